# Install-time steps (install(SCRIPT) in cmake/Packaging.cmake): what depends on the prefix
# installed to, which `cmake --install --prefix` and cpack choose after the build. Here
# CMAKE_INSTALL_PREFIX is that prefix, and file(INSTALL) honours DESTDIR.
cmake_policy(VERSION 3.25)
set(stage "${SCEPLAB_I_BUILD_DIR}/install-stage")
file(REMOVE_RECURSE "${stage}")
file(MAKE_DIRECTORY "${stage}/luac")

# The chunk cache, named after the installed sources (src/lua/engine.c takes a chunk only then).
set(luac_files)
string(REPLACE "\n" ";" entries "${SCEPLAB_I_LUAC}")
foreach(entry IN LISTS entries)
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 module)
  list(GET parts 1 src)
  list(LENGTH parts n)
  set(rel "")
  if(n GREATER 2)
    list(GET parts 2 rel)
  endif()
  if(rel)
    set(name "@${CMAKE_INSTALL_PREFIX}/${SCEPLAB_I_LUA_DIR}/${rel}")
  else()
    set(name "@${src}") # Debian's argparse, where the engine finds it
  endif()
  execute_process(COMMAND "${SCEPLAB_I_LUA}" "${SCEPLAB_I_SOURCE_DIR}/scripts/luac.lua" "${src}" "${name}"
                          "${stage}/luac/${module}.luac" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cannot precompile ${src}")
  endif()
  list(APPEND luac_files "${stage}/luac/${module}.luac")
endforeach()
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${SCEPLAB_I_DATADIR}/sceplab/luac" TYPE FILE FILES ${luac_files})

# The systemd unit and the pkg-config file name the prefix.
set(SCEPLAB_BINDIR "${CMAKE_INSTALL_PREFIX}/${SCEPLAB_I_BINDIR}")
configure_file("${SCEPLAB_I_SOURCE_DIR}/packaging/sceplab-serve.service.in" "${stage}/sceplab-serve.service" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE FILES "${stage}/sceplab-serve.service")
set(SCEPLAB_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(SCEPLAB_LIBDIR "${SCEPLAB_I_LIBDIR}")
set(SCEPLAB_INCLUDEDIR "${SCEPLAB_I_INCLUDEDIR}")
set(PROJECT_VERSION "${SCEPLAB_I_VERSION}")
configure_file("${SCEPLAB_I_SOURCE_DIR}/packaging/sceplab.pc.in" "${stage}/sceplab.pc" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${SCEPLAB_I_LIBDIR}/pkgconfig" TYPE FILE FILES "${stage}/sceplab.pc")

# A system install (the .deb's /usr) gets Debian's files: the conffile in /etc, the copyright and
# changelog, lintian's overrides. Anywhere else the settings file is an example in the docs.
set(docdir "${CMAKE_INSTALL_PREFIX}/${SCEPLAB_I_DOCDIR}")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  file(INSTALL DESTINATION "/etc/sceplab" TYPE FILE FILES "${SCEPLAB_I_SOURCE_DIR}/packaging/sceplab.conf")
  execute_process(COMMAND gzip -9nc "${SCEPLAB_I_SOURCE_DIR}/packaging/debian/changelog"
                  OUTPUT_FILE "${stage}/changelog.Debian.gz" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip of the changelog failed")
  endif()
  file(INSTALL DESTINATION "${docdir}" TYPE FILE FILES "${SCEPLAB_I_SOURCE_DIR}/packaging/debian/copyright"
       "${stage}/changelog.Debian.gz")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/share/lintian/overrides" TYPE FILE
       FILES "${SCEPLAB_I_SOURCE_DIR}/packaging/debian/lintian-overrides" RENAME sceplab)
else()
  file(INSTALL DESTINATION "${docdir}" TYPE FILE FILES "${SCEPLAB_I_SOURCE_DIR}/packaging/sceplab.conf"
       RENAME sceplab.conf.example)
endif()
