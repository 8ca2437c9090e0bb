# Writes OUT, a header defining SCEPLAB_COMMIT: the commit the tree was built from (with "-dirty"
# when it had uncommitted changes), SCEPLAB_COMMIT given to cmake (a packager building from a
# tarball), or "unknown". Run at every build; the file is rewritten only when the text changes, so
# nothing recompiles for nothing.
set(commit "${SCEPLAB_COMMIT}")
if(NOT commit)
  find_package(Git QUIET)
  if(GIT_FOUND AND EXISTS "${SRC}/.git")
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SRC}" rev-parse --short=12 HEAD
                    OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
    if(NOT rc EQUAL 0)
      set(commit "")
    else()
      execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SRC}" status --porcelain --untracked-files=no
                      OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(dirty)
        string(APPEND commit "-dirty")
      endif()
    endif()
  endif()
endif()
if(NOT commit)
  set(commit "unknown")
endif()
set(text "#define SCEPLAB_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
