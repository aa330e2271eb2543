# python.pytest, run as `cmake -P` by ctest (tests/python/CMakeLists.txt passes the -D values).
#   1. A venv at WORK/venv (made once; python3-venv on Debian). Skipped without one.
#   2. Its build requirements and test tools from PyPI, once: numpy, pytest, scikit-build-core,
#      nanobind (so later runs need no network and no build isolation).
#   3. TORCH_VENV's site-packages appended through a .pth file when it holds torch for this
#      Python (read-only), so the torch tests run; they skip without it.
#   4. pip install python/ from this build tree (TESSEL_BUILD_DIR), with a kept CMake build
#      directory (WORK/build) so a warm run rebuilds nothing.
#   5. pytest python/tests, with the test suite's kernel cache.
cmake_minimum_required(VERSION 3.25)

# A skip prints "python.pytest SKIPPED: why" and stops: ctest marks the test skipped by that line
# (SKIP_REGULAR_EXPRESSION; cmake -P cannot choose its exit code before CMake 3.29).
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "python.pytest: ${what} failed (${rc}): ${ARGN}")
  endif()
endfunction()

if(SKIP_REASON)
  message("python.pytest SKIPPED: ${SKIP_REASON}")
  return()
endif()
set(VENV ${WORK}/venv)
set(VPY ${VENV}/bin/python)

# ---- 1. the venv ---------------------------------------------------------------------------------
if(NOT EXISTS ${VPY})
  execute_process(COMMAND ${PYTHON} -m venv ${VENV} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    file(REMOVE_RECURSE ${VENV})
    message("python.pytest SKIPPED: `${PYTHON} -m venv` failed (Debian: apt-get install "
            "python3-venv; tools/setup.sh lists it): ${err}")
    return()
  endif()
endif()

# ---- 2. build requirements and test tools --------------------------------------------------------
execute_process(COMMAND ${VPY} -c "import numpy, pytest, scikit_build_core, nanobind"
  RESULT_VARIABLE have OUTPUT_QUIET ERROR_QUIET)
if(NOT have EQUAL 0)
  run("pip install of the test requirements"
    ${VPY} -m pip install -q --disable-pip-version-check numpy pytest "scikit-build-core>=0.10" "nanobind>=2.4")
endif()

# ---- 3. torch, read-only from another venv -------------------------------------------------------
execute_process(COMMAND ${VPY} -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
  OUTPUT_VARIABLE site OUTPUT_STRIP_TRAILING_WHITESPACE)
file(REMOVE ${site}/tessel-test-torch.pth)
if(TORCH_VENV)
  execute_process(COMMAND ${VPY} -c "import sys; print(f'python{sys.version_info[0]}.{sys.version_info[1]}')"
    OUTPUT_VARIABLE pyver OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(torch_site ${TORCH_VENV}/lib/${pyver}/site-packages)
  if(EXISTS ${torch_site}/torch/__init__.py)
    file(WRITE ${site}/tessel-test-torch.pth "${torch_site}\n")
  else()
    message("python.pytest: ${TORCH_VENV} has no torch for ${pyver}; the torch tests will skip")
  endif()
endif()

# ---- 4. the package, from this build tree --------------------------------------------------------
set(ENV{TESSEL_BUILD_DIR} ${BUILD_DIR})
unset(ENV{TESSEL_PREFIX})
run("pip install ./python"
  ${VPY} -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps
    --force-reinstall ${SOURCE_DIR}/python -Cbuild-dir=${WORK}/build)

# ---- 5. the tests --------------------------------------------------------------------------------
set(ENV{TESSEL_CACHE_DIR} ${CACHE_DIR})
execute_process(COMMAND ${VPY} -m pytest -q -p no:cacheprovider -rs ${SOURCE_DIR}/python/tests
  WORKING_DIRECTORY ${WORK} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "python.pytest: pytest failed (${rc})")
endif()
