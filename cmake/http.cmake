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
# Generated code, not ours: compiled without our warning flags.
set_source_files_properties(${CORIO_LLHTTP_SRC} PROPERTIES COMPILE_OPTIONS -w)

file(GLOB CORIO_HTTP_SRC CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/http/*.c)
add_library(corio_http STATIC ${CORIO_HTTP_SRC} ${CORIO_LLHTTP_SRC})
target_include_directories(corio_http PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_include_directories(corio_http PRIVATE ${PROJECT_SOURCE_DIR}/src
  ${CORIO_LLHTTP_INCLUDE_DIR})
target_compile_definitions(corio_http PRIVATE _GNU_SOURCE)
set_source_files_properties(${CORIO_HTTP_SRC} PROPERTIES
  COMPILE_OPTIONS "${CORIO_WARN}")
target_link_libraries(corio_http PUBLIC corio_static PkgConfig::LIBCURL)
install(TARGETS corio_http ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

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
  target_compile_options(corio_http PRIVATE -fsanitize=fuzzer-no-link)
endif()
