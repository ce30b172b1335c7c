# Run at build time: write qs_version.h with the current git commit, touching the file
# only when its text changes (so an unchanged commit rebuilds nothing).
# Inputs: SRC (source dir), OUT (header path), VERSION, BUILD_TYPE, COMMIT_OVERRIDE.
set(commit "${COMMIT_OVERRIDE}")
if(NOT commit)
  execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT commit)
    set(commit "unknown")
  else()
    execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                    OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(dirty)
      set(commit "${commit}-dirty")
    endif()
  endif()
endif()
set(text "#ifndef QS_VERSION_H\n#define QS_VERSION_H\n#define QS_VERSION \"${VERSION}\"\n#define QS_GIT_COMMIT \"${commit}\"\n#define QS_BUILD_TYPE \"${BUILD_TYPE}\"\n#endif\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
