# llhttp, the HTTP/1.1 parser, compiled in from the C sources and header that
# Debian's node-llhttp package installs (it ships no library of its own).
set(LLHTTP_SRC_DIR /usr/share/llhttp CACHE PATH "llhttp's C sources (node-llhttp)")
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "llhttp.h (node-llhttp)")
foreach(f api.c http.c llhttp.c)
  if(NOT EXISTS ${LLHTTP_SRC_DIR}/${f})
    message(FATAL_ERROR "llhttp: ${LLHTTP_SRC_DIR}/${f} not found; install node-llhttp")
  endif()
endforeach()
if(NOT EXISTS ${LLHTTP_INCLUDE_DIR}/llhttp.h)
  message(FATAL_ERROR "llhttp: ${LLHTTP_INCLUDE_DIR}/llhttp.h not found; install node-llhttp")
endif()
add_library(llhttp STATIC ${LLHTTP_SRC_DIR}/api.c ${LLHTTP_SRC_DIR}/http.c
    ${LLHTTP_SRC_DIR}/llhttp.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
# Generated code: not held to the project's warning flags.
target_compile_options(llhttp PRIVATE -w)
# Strict mode: no leniency towards malformed messages (request smuggling).
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
