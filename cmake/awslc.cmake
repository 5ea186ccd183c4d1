# awslc.cmake - AWS-LC as the targets `tls_crypto` and `tls_ssl` (included by
# tlslib.cmake).
#
# AWS_LC_SOURCE_DIR is the aws-lc/ folder of Debian's rust-aws-lc-sys source
# (scripts/fetch-awslc unpacks it into .cache/awslc/src), or any AWS-LC
# checkout. It is built by its own CMake, through the wrapper folder
# cmake/awslc, without Go or Perl (the pre-generated assembly is used), at -O2
# whatever tlsgate's build type, without its tests and tools. Sanitizer flags
# set by tlsgate's CMakeLists.txt reach it too, so that its memory and threads
# are checked with the rest.
#
# AWS-LC gives its API default visibility in static builds: the symbols are
# kept inside the binary by the link option -Wl,--exclude-libs,ALL alone
# (tests/symbols.sh checks it).

set(AWS_LC_SOURCE_DIR "${PROJECT_SOURCE_DIR}/.cache/awslc/src"
    CACHE PATH "AWS-LC source tree (aws-lc/ of Debian's rust-aws-lc-sys, or a checkout)")
if(NOT EXISTS "${AWS_LC_SOURCE_DIR}/include/openssl/base.h")
  message(FATAL_ERROR "No AWS-LC source at ${AWS_LC_SOURCE_DIR}.\n"
      "Run scripts/fetch-awslc, pass -DAWS_LC_SOURCE_DIR=/path/to/aws-lc, "
      "or build on BoringSSL with -DTLSGATE_TLS=boringssl.")
endif()
file(STRINGS "${AWS_LC_SOURCE_DIR}/include/openssl/base.h" _awslc_ver
    REGEX "^#define AWSLC_VERSION_NUMBER_STRING ")
string(REGEX REPLACE ".*\"(.*)\".*" "\\1" AWSLC_VERSION "${_awslc_ver}")

add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/awslc ${CMAKE_BINARY_DIR}/awslc EXCLUDE_FROM_ALL)

# The TLS record buffers from tlsgate's per-thread buffer cache instead of a
# large malloc and free per record read (common/bufcache.h): the one file
# that takes them, with malloc and free directly, gets those two renamed
# (awslc/ssl_buffer_alloc.h). Not under AddressSanitizer, which then sees
# every buffer's life.
if(NOT TLSGATE_SANITIZE AND NOT TLSGATE_FUZZ)
  set_property(SOURCE ${AWS_LC_SOURCE_DIR}/ssl/ssl_buffer.cc TARGET_DIRECTORY ssl
      APPEND PROPERTY COMPILE_OPTIONS -include ${CMAKE_CURRENT_LIST_DIR}/awslc/ssl_buffer_alloc.h)
  target_link_libraries(ssl $<BUILD_INTERFACE:bufcache>)
endif()

add_library(tls_crypto INTERFACE)
add_library(tls_ssl INTERFACE)
target_link_libraries(tls_crypto INTERFACE crypto Threads::Threads)
target_link_libraries(tls_ssl INTERFACE ssl tls_crypto)
set(TLS_LIB_DESC "AWS-LC ${AWSLC_VERSION}")
