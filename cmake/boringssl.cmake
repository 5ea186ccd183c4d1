# boringssl.cmake - BoringSSL as two static libraries, `boringssl_crypto` and
# `boringssl_ssl`, with hidden symbols.
#
# Two source layouts are accepted through BORINGSSL_SOURCE_DIR:
#  - Debian's android-platform-external-boringssl tree (the default, fetched by
#    scripts/fetch-boringssl into .cache/boringssl/src). It carries generated
#    assembly and `android-sources.cmake`, whose file lists are compiled here.
#  - An upstream BoringSSL checkout (it has src-less `crypto/` and its own
#    CMakeLists.txt): it is built with its own CMake as a subproject.
#
# Either way OPENSSL_SMALL stays undefined, so the fast P-256 and X25519 code is
# in, and the x86-64 assembly is used.

set(BORINGSSL_SOURCE_DIR "${PROJECT_SOURCE_DIR}/.cache/boringssl/src"
    CACHE PATH "BoringSSL source tree (Debian android tree or upstream checkout)")

if(EXISTS "${BORINGSSL_SOURCE_DIR}/android-sources.cmake")
  set(BORINGSSL_ROOT "${BORINGSSL_SOURCE_DIR}/")
  include("${BORINGSSL_SOURCE_DIR}/android-sources.cmake")
  if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
    message(FATAL_ERROR "only x86-64 assembly is wired up; got ${CMAKE_SYSTEM_PROCESSOR}")
  endif()
  enable_language(ASM)
  set(BORINGSSL_INCLUDE_DIR "${BORINGSSL_SOURCE_DIR}/src/include")
  file(READ "${BORINGSSL_SOURCE_DIR}/BORINGSSL_REVISION" BORINGSSL_REVISION)
  string(STRIP "${BORINGSSL_REVISION}" BORINGSSL_REVISION)

  add_library(boringssl_crypto STATIC ${crypto_sources} ${crypto_sources_linux_x86_64})
  add_library(boringssl_ssl STATIC ${ssl_sources})
  foreach(t boringssl_crypto boringssl_ssl)
    target_include_directories(${t} SYSTEM PUBLIC "${BORINGSSL_INCLUDE_DIR}")
    target_compile_definitions(${t} PRIVATE BORINGSSL_IMPLEMENTATION _XOPEN_SOURCE=700)
    # Our warnings are not BoringSSL's: build it as its authors do, at -O2,
    # whatever the build type, and keep -Werror away from it.
    target_compile_options(${t} PRIVATE -O2 -w -fvisibility=hidden -fno-common
        $<$<COMPILE_LANGUAGE:CXX>:-std=c++14 -fno-exceptions -fno-rtti -fvisibility-inlines-hidden>
        $<$<COMPILE_LANGUAGE:C>:-std=gnu11>)
    set_target_properties(${t} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endforeach()
  target_link_libraries(boringssl_crypto PUBLIC Threads::Threads)
  target_link_libraries(boringssl_ssl PUBLIC boringssl_crypto)
elseif(EXISTS "${BORINGSSL_SOURCE_DIR}/CMakeLists.txt")
  # Upstream checkout: let its own build describe itself.
  add_subdirectory("${BORINGSSL_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/boringssl" EXCLUDE_FROM_ALL)
  add_library(boringssl_crypto INTERFACE)
  add_library(boringssl_ssl INTERFACE)
  target_link_libraries(boringssl_crypto INTERFACE crypto)
  target_link_libraries(boringssl_ssl INTERFACE ssl)
  target_include_directories(boringssl_crypto SYSTEM INTERFACE "${BORINGSSL_SOURCE_DIR}/include")
  execute_process(COMMAND git -C "${BORINGSSL_SOURCE_DIR}" rev-parse HEAD
      OUTPUT_VARIABLE BORINGSSL_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT BORINGSSL_REVISION)
    set(BORINGSSL_REVISION "unknown")
  endif()
else()
  message(FATAL_ERROR "No BoringSSL source at ${BORINGSSL_SOURCE_DIR}.\n"
      "Run scripts/fetch-boringssl, or pass -DBORINGSSL_SOURCE_DIR=/path/to/boringssl.")
endif()
message(STATUS "BoringSSL ${BORINGSSL_REVISION} from ${BORINGSSL_SOURCE_DIR}")
