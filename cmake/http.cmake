# The optional HTTP component (CORIO_BUILD_HTTP): the corio_http library
# (include/corio_http.h, src/http/ + llhttp's C sources compiled in) and the
# corio-jobs server (src/jobs/). Included by the top-level CMakeLists.txt.
#
# Dependencies, all from Debian (scripts/deps.sh core installs them):
#   node-llhttp          llhttp's generated C parser, shipped as sources
#   libjansson-dev       JSON
#   libsqlite3-dev       the embedded job store
#   libcurl4-openssl-dev fetch jobs and the HTTP client
#   libssl-dev           SHA-256 for hash jobs (OpenSSL's libcrypto)
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
pkg_check_modules(JANSSON IMPORTED_TARGET jansson)
pkg_check_modules(SQLITE3 IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBCURL IMPORTED_TARGET libcurl)
pkg_check_modules(LIBCRYPTO IMPORTED_TARGET libcrypto)

set(_corio_http_missing "")
if(NOT CORIO_LLHTTP_INCLUDE_DIR OR NOT CORIO_LLHTTP_SOURCE_DIR)
  list(APPEND _corio_http_missing node-llhttp)
endif()
if(NOT JANSSON_FOUND)
  list(APPEND _corio_http_missing libjansson-dev)
endif()
if(NOT SQLITE3_FOUND)
  list(APPEND _corio_http_missing libsqlite3-dev)
endif()
if(NOT LIBCURL_FOUND)
  list(APPEND _corio_http_missing libcurl4-openssl-dev)
endif()
if(NOT LIBCRYPTO_FOUND)
  list(APPEND _corio_http_missing libssl-dev)
endif()

if(_corio_http_missing)
  message(WARNING "corio: HTTP component and corio-jobs skipped; missing: "
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

# ---- corio-jobs --------------------------------------------------------------
# Everything but main.c goes into an internal library so the test suites can
# link the store, the router and the runner directly.
file(GLOB CORIO_JOBS_SRC CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/jobs/*.c)
list(FILTER CORIO_JOBS_SRC EXCLUDE REGEX "/main\\.c$")
if(NOT CORIO_JOBS_SRC)
  return()
endif()
add_library(corio_jobs_core STATIC ${CORIO_JOBS_SRC})
target_include_directories(corio_jobs_core PUBLIC ${PROJECT_SOURCE_DIR}/src/jobs)
target_include_directories(corio_jobs_core PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(corio_jobs_core PRIVATE _GNU_SOURCE)
target_compile_options(corio_jobs_core PRIVATE ${CORIO_WARN})
target_link_libraries(corio_jobs_core PUBLIC corio_http corio_static
  PkgConfig::SQLITE3 PkgConfig::JANSSON PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO)

if(EXISTS ${PROJECT_SOURCE_DIR}/src/jobs/main.c)
  add_executable(corio-jobs ${PROJECT_SOURCE_DIR}/src/jobs/main.c)
  target_compile_definitions(corio-jobs PRIVATE _GNU_SOURCE)
  target_compile_options(corio-jobs PRIVATE ${CORIO_WARN})
  target_link_libraries(corio-jobs PRIVATE corio_jobs_core)
  install(TARGETS corio-jobs RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# tests/test_jobs_e2e runs the corio-jobs binary: build it first. The test
# targets are created after this file, hence the deferred call.
function(_corio_jobs_e2e_dep)
  foreach(_t test_jobs_e2e test_jobs_pg)
    if(TARGET ${_t} AND TARGET corio-jobs)
      add_dependencies(${_t} corio-jobs)
    endif()
  endforeach()
endfunction()
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _corio_jobs_e2e_dep)
endif()

# libFuzzer (fuzz/fuzz_http.c, built by fuzz/CMakeLists.txt): the HTTP
# component gets the same coverage instrumentation as the core library, so
# the fuzzer is guided by the parser's and the router's branches.
if(CORIO_BUILD_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(corio_http PRIVATE -fsanitize=fuzzer-no-link)
  target_compile_options(corio_jobs_core PRIVATE -fsanitize=fuzzer-no-link)
endif()
