# tlslib.cmake - the TLS library, built from source as static libraries whose
# symbols never leave the tlsgate binary (libcurl brings OpenSSL 3 into the
# same process). Two are supported, chosen with TLSGATE_TLS:
#  - awslc (the default): AWS-LC, from Debian unstable's rust-aws-lc-sys
#    source package (scripts/fetch-awslc), cmake/awslc.cmake;
#  - boringssl: BoringSSL, from Debian's android-platform-external-boringssl
#    (scripts/fetch-boringssl) or an upstream checkout, cmake/boringssl.cmake.
# Either defines the targets `tls_crypto` and `tls_ssl`, and TLS_LIB_DESC (the
# library and version that `tlsgate version` prints).

set(TLSGATE_TLS "awslc" CACHE STRING "TLS library: awslc or boringssl")
set_property(CACHE TLSGATE_TLS PROPERTY STRINGS awslc boringssl)
if(TLSGATE_TLS STREQUAL "awslc")
  include(${CMAKE_CURRENT_LIST_DIR}/awslc.cmake)
elseif(TLSGATE_TLS STREQUAL "boringssl")
  include(${CMAKE_CURRENT_LIST_DIR}/boringssl.cmake)
  add_library(tls_crypto INTERFACE)
  add_library(tls_ssl INTERFACE)
  target_link_libraries(tls_crypto INTERFACE boringssl_crypto)
  target_link_libraries(tls_ssl INTERFACE boringssl_ssl)
  set(TLS_LIB_DESC "BoringSSL ${BORINGSSL_REVISION}")
else()
  message(FATAL_ERROR "TLSGATE_TLS must be awslc or boringssl, not '${TLSGATE_TLS}'")
endif()
message(STATUS "TLS library: ${TLS_LIB_DESC}")
