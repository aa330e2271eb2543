# The prebuilt read-only cache tier (docs/runtime.md, "The prebuilt tier"): with
# -DTESSEL_PREBUILD_STDLIB=ON, `cmake --install` runs `tessel prebuild`, which compiles every
# stdlib kernel's registered default specialization for TESSEL_PREBUILD_TARGETS into
# <prefix>/share/tessel/cache; an installed libtessel finds it beside itself (jit/prebuilt_tier.h).
# Off by default: it costs minutes of compiling at install time (figures in docs/runtime.md).
# The entries are keyed by this build's libtessel (its GNU build id): the installed copy of the
# same file, whose RPATH `cmake --install` rewrites but whose build id it keeps.
option(TESSEL_PREBUILD_STDLIB "cmake --install: prebuild the stdlib's GPU kernels into share/tessel/cache" OFF)
set(TESSEL_PREBUILD_TARGETS "sm_80,sm_86,sm_89,sm_90a" CACHE STRING
  "GPU targets of the prebuilt tier (comma-separated)")
if(TESSEL_PREBUILD_STDLIB)
  install(CODE "
    set(_tier \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/tessel/cache\")
    message(STATUS \"Prebuilding the stdlib's kernels for ${TESSEL_PREBUILD_TARGETS} into \${_tier}\")
    execute_process(COMMAND \"$<TARGET_FILE:tessel-cli>\" prebuild --out \"\${_tier}\"
                            --targets \"${TESSEL_PREBUILD_TARGETS}\" RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR \"tessel prebuild failed (\${_rc}); configure with -DTESSEL_PREBUILD_STDLIB=OFF to install without the tier\")
    endif()")
endif()
