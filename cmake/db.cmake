# The optional database components: corio_pg (include/corio_pg.h,
# src/db/pg*.c over libpq) and corio_redis (include/corio_redis.h,
# src/db/redis.c over hiredis). Included by the top-level CMakeLists.txt.
# Each defaults to ON when pkg-config finds its library (Debian libpq-dev,
# libhiredis-dev; scripts/deps.sh core installs them) and is skipped with a
# warning otherwise, taking its tests and examples with it.

find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBPQ IMPORTED_TARGET libpq)
pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)
set(_pg_default OFF)
set(_redis_default OFF)
if(LIBPQ_FOUND)
  set(_pg_default ON)
endif()
if(HIREDIS_FOUND)
  set(_redis_default ON)
endif()
option(CORIO_BUILD_PG "Build corio_pg (PostgreSQL over libpq)" ${_pg_default})
option(CORIO_BUILD_REDIS "Build corio_redis (Redis over hiredis)" ${_redis_default})

if(CORIO_BUILD_PG)
  if(LIBPQ_FOUND)
    corio_add_module(NAME corio_pg
      DESCRIPTION "corio's PostgreSQL client and pool (libpq)"
      SOURCES ${PROJECT_SOURCE_DIR}/src/db/pg.c ${PROJECT_SOURCE_DIR}/src/db/pg_pool.c
      HEADER_DEPS PkgConfig::LIBPQ
      REQUIRES "libpq")
  else()
    message(WARNING "corio: CORIO_BUILD_PG skipped: libpq not found (run scripts/deps.sh core)")
  endif()
endif()
if(CORIO_BUILD_REDIS)
  if(HIREDIS_FOUND)
    corio_add_module(NAME corio_redis
      DESCRIPTION "corio's Redis client (hiredis)"
      SOURCES ${PROJECT_SOURCE_DIR}/src/db/redis.c
      HEADER_DEPS PkgConfig::HIREDIS
      REQUIRES "hiredis")
  else()
    message(WARNING "corio: CORIO_BUILD_REDIS skipped: hiredis not found (run scripts/deps.sh core)")
  endif()
endif()

# db-bench (bench/db_bench.c): queries/s through corio_pg; see
# bench/peers_db/run.sh for pgbench and asyncpg on the same server.
if(CORIO_BUILD_BENCH AND TARGET corio_pg)
  add_executable(db-bench ${PROJECT_SOURCE_DIR}/bench/db_bench.c)
  target_link_libraries(db-bench PRIVATE corio_pg)
  target_compile_options(db-bench PRIVATE ${CORIO_WARN})
endif()

# The headers must compile on their own as C11 and as C++17, like corio.h.
foreach(_h pg redis)
  if(TARGET corio_${_h})
    set(_d ${CMAKE_CURRENT_BINARY_DIR}/corio_${_h}_header_check)
    file(WRITE ${_d}/c11.c "#include <corio_${_h}.h>\nint corio_${_h}_hdr_c11;\n")
    file(WRITE ${_d}/cxx.cpp "#include <corio_${_h}.h>\nint corio_${_h}_hdr_cxx;\n")
    add_library(corio_${_h}_header_check OBJECT ${_d}/c11.c ${_d}/cxx.cpp)
    target_link_libraries(corio_${_h}_header_check PRIVATE corio_${_h})
    set_target_properties(corio_${_h}_header_check PROPERTIES C_STANDARD 11
      C_EXTENSIONS OFF)
    target_compile_options(corio_${_h}_header_check PRIVATE -Wall -Wextra -Wpedantic -Werror)
  endif()
endforeach()
