# The optional HTTP component (CORIO_BUILD_HTTP): the corio_http library
# (include/corio_http.h, src/http/ + llhttp's C sources compiled in).
# Included by the top-level CMakeLists.txt; the corio-jobs server that uses
# it is an application, apps/corio-jobs/CMakeLists.txt.
#
# Dependencies, all from Debian (scripts/deps.sh core installs them):
#   node-llhttp          llhttp's generated C parser, shipped as sources
#   libcurl4-openssl-dev the HTTP client
# If one is missing the component is skipped with a warning (and its tests
# with it) rather than failing the whole build.

find_package(PkgConfig REQUIRED)

# Debian ships llhttp as sources: the header under /usr/share/include/llhttp
# and llhttp.c, api.c, http.c under /usr/share/llhttp.
find_path(CORIO_LLHTTP_INCLUDE_DIR llhttp.h
  PATHS /usr/share/include/llhttp /usr/include/llhttp /usr/local/include
  NO_DEFAULT_PATH)
find_path(CORIO_LLHTTP_SOURCE_DIR llhttp.c
  PATHS /usr/share/llhttp /usr/src/llhttp NO_DEFAULT_PATH)
pkg_check_modules(LIBCURL IMPORTED_TARGET libcurl)

set(_corio_http_missing "")
if(NOT CORIO_LLHTTP_INCLUDE_DIR OR NOT CORIO_LLHTTP_SOURCE_DIR)
  list(APPEND _corio_http_missing node-llhttp)
endif()
if(NOT LIBCURL_FOUND)
  list(APPEND _corio_http_missing libcurl4-openssl-dev)
endif()

if(_corio_http_missing)
  message(WARNING "corio: HTTP component skipped; missing: "
    "${_corio_http_missing} (run scripts/deps.sh core)")
  return()
endif()

# ---- corio_http ------------------------------------------------------------
set(CORIO_LLHTTP_SRC ${CORIO_LLHTTP_SOURCE_DIR}/llhttp.c
  ${CORIO_LLHTTP_SOURCE_DIR}/api.c ${CORIO_LLHTTP_SOURCE_DIR}/http.c)
set(CORIO_HTTP_SRC)
foreach(_f buf.c client.c parser.c response.c server.c server_multi.c)
  list(APPEND CORIO_HTTP_SRC ${PROJECT_SOURCE_DIR}/src/http/${_f})
endforeach()
# llhttp is compiled in and stays internal (hidden, not in the version map).
corio_add_module(NAME corio_http
  DESCRIPTION "corio's HTTP/1.1 server and client (llhttp, libcurl)"
  SOURCES ${CORIO_HTTP_SRC}
  THIRD_PARTY_SOURCES ${CORIO_LLHTTP_SRC}
  PRIVATE_INCLUDES ${CORIO_LLHTTP_INCLUDE_DIR}
  DEPS PkgConfig::LIBCURL
  REQUIRES_PRIVATE "libcurl")

# corio_http.h must compile on its own as C11 and as C++17, like corio.h.
set(_hdr_dir ${CMAKE_CURRENT_BINARY_DIR}/corio_http_header_check)
file(WRITE ${_hdr_dir}/c11.c "#include <corio_http.h>\nint corio_http_hdr_c11;\n")
file(WRITE ${_hdr_dir}/cxx.cpp "#include <corio_http.h>\nint corio_http_hdr_cxx;\n")
add_library(corio_http_header_check OBJECT ${_hdr_dir}/c11.c ${_hdr_dir}/cxx.cpp)
target_include_directories(corio_http_header_check PRIVATE ${PROJECT_SOURCE_DIR}/include)
set_target_properties(corio_http_header_check PROPERTIES C_STANDARD 11
  C_EXTENSIONS OFF)
target_compile_options(corio_http_header_check PRIVATE -Wall -Wextra -Wpedantic -Werror)

# libFuzzer (fuzz/fuzz_http.c, built by fuzz/CMakeLists.txt): the HTTP
# component gets the same coverage instrumentation as the core library.
if(CORIO_BUILD_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(corio_http_obj PRIVATE -fsanitize=fuzzer-no-link)
endif()
