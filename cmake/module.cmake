# How corio's libraries are built and exported (included by the top-level
# CMakeLists.txt before the modules).
#
# Every library is compiled once into an object library with hidden
# visibility (only declarations marked CORIO_API in include/*.h are
# exported), then archived twice: lib<name>.a and lib<name>.so. The shared
# library is linked with a version script generated from
# cmake/exports.map.in, so `nm -D --defined-only lib<name>.so` lists only
# public corio_* symbols (scripts/check-exports.sh, run by ctest, checks it).

# corio_export_map(TARGET NODE): links shared library TARGET with a version
# script exporting corio_[a-zA-Z0-9]* under version node NODE.
function(corio_export_map target node)
  get_target_property(_out ${target} OUTPUT_NAME)
  set(CORIO_MAP_LIB lib${_out}.so)
  set(CORIO_MAP_NODE ${node})
  set(_map ${PROJECT_BINARY_DIR}/${_out}.map)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/exports.map.in ${_map} @ONLY)
  target_link_options(${target} PRIVATE -Wl,--version-script=${_map})
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${_map})
  # Every symbol the library uses must come from its dependencies' public
  # API. (Not under sanitizers: clang links their runtimes into programs,
  # not into shared libraries.)
  if(NOT CORIO_SANITIZE)
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
endfunction()

# corio_add_module(NAME corio_x DESCRIPTION "..."
#                  SOURCES ours.c... [THIRD_PARTY_SOURCES theirs.c...]
#                  [PRIVATE_INCLUDES dir...] [DEPS imported-target...]
#                  [REQUIRES "pkg-config modules of the public header"]
#                  [REQUIRES_PRIVATE "pkg-config modules used inside"]
#                  [HEADER_DEPS imported-target...])
# Defines corio_x (static, libcorio_x.a), corio_x_shared (libcorio_x.so,
# linked with libcorio.so), their install rules and corio_x.pc. A module is
# built on corio's public API only: no src/ include path is given to it.
# DEPS are linked publicly to the static library (a static link needs them)
# and privately to the shared one, except HEADER_DEPS (the public header
# includes theirs), public to both.
function(corio_add_module)
  cmake_parse_arguments(M "" "NAME;DESCRIPTION;REQUIRES;REQUIRES_PRIVATE"
    "SOURCES;THIRD_PARTY_SOURCES;PRIVATE_INCLUDES;DEPS;HEADER_DEPS" ${ARGN})
  set(n ${M_NAME})
  add_library(${n}_obj OBJECT ${M_SOURCES} ${M_THIRD_PARTY_SOURCES})
  set_target_properties(${n}_obj PROPERTIES C_VISIBILITY_PRESET hidden)
  target_include_directories(${n}_obj PRIVATE ${PROJECT_SOURCE_DIR}/include
    ${M_PRIVATE_INCLUDES})
  target_compile_definitions(${n}_obj PRIVATE _GNU_SOURCE)
  target_link_libraries(${n}_obj PRIVATE ${M_DEPS} ${M_HEADER_DEPS})
  set_source_files_properties(${M_SOURCES} PROPERTIES COMPILE_OPTIONS "${CORIO_WARN}")
  # Generated code, not ours: compiled without our warning flags.
  if(M_THIRD_PARTY_SOURCES)
    set_source_files_properties(${M_THIRD_PARTY_SOURCES} PROPERTIES COMPILE_OPTIONS -w)
  endif()

  add_library(${n} STATIC $<TARGET_OBJECTS:${n}_obj>)
  add_library(${n}_shared SHARED $<TARGET_OBJECTS:${n}_obj>)
  set_target_properties(${n}_shared PROPERTIES OUTPUT_NAME ${n}
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
  foreach(t ${n} ${n}_shared)
    target_include_directories(${t} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endforeach()
  target_link_libraries(${n} PUBLIC corio_static ${M_DEPS} ${M_HEADER_DEPS})
  target_link_libraries(${n}_shared PUBLIC corio_shared ${M_HEADER_DEPS}
    PRIVATE ${M_DEPS})
  string(TOUPPER "${n}" _node)
  corio_export_map(${n}_shared ${_node}_${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  install(TARGETS ${n} ${n}_shared
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

  set(CORIO_MOD_NAME ${n})
  set(CORIO_MOD_DESC "${M_DESCRIPTION}")
  string(STRIP "corio ${M_REQUIRES}" CORIO_MOD_REQUIRES)
  set(CORIO_MOD_REQUIRES_PRIVATE "${M_REQUIRES_PRIVATE}")
  set(CORIO_MOD_LIBS_PRIVATE "")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/module.pc.in
    ${PROJECT_BINARY_DIR}/${n}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${n}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()
