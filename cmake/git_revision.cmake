# Writes the header that gives --version, --json and registry manifests the git revision this
# binary was built from. Run at every build (not only at configure time, which left an
# incrementally rebuilt binary naming an older commit); configure_file rewrites the header, and
# so recompiles what includes it, only when the revision changed. A build with uncommitted
# changes to tracked files says so: "<revision>-dirty".
# Inputs: SOURCE_DIR, IN (version.hpp.in), OUT, PROJECT_VERSION.
execute_process(COMMAND git rev-parse --short=12 HEAD
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE H5PRUNE_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET RESULT_VARIABLE git_rc)
if(NOT git_rc EQUAL 0 OR H5PRUNE_GIT_REVISION STREQUAL "")
  set(H5PRUNE_GIT_REVISION "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE changes ERROR_QUIET RESULT_VARIABLE status_rc)
  if(status_rc EQUAL 0 AND NOT changes STREQUAL "")
    set(H5PRUNE_GIT_REVISION "${H5PRUNE_GIT_REVISION}-dirty")
  endif()
endif()
configure_file(${IN} ${OUT} @ONLY)
