# install.package, run as `cmake -P` by ctest (tests/install/CMakeLists.txt passes the -D values).
#
# Each run works in a fresh directory under WORK_ROOT (removed when the run passes, kept and named
# when it fails), with its own kernel cache, and with LD_LIBRARY_PATH, CMAKE_PREFIX_PATH and
# PKG_CONFIG_PATH cleared, so nothing from the build tree or an earlier run can stand in for the
# installed files. Steps, each of which fails the test:
#   1. cmake --install BUILD_DIR --prefix <run>/stage; the expected files are there.
#   2. No installed package file names the build tree, the source tree or the prefix itself, and
#      installed binaries find libtessel through $ORIGIN (readelf, where present).
#   3. The prefix is moved to <run>/moved; everything below uses only the moved copy.
#   4. moved/bin/tessel version runs.
#   5. Every installed header compiles on its own with only -I<prefix>/include.
#   6. examples/standalone configures (find_package(tessel) from the moved prefix), builds with
#      Ninja and runs: CPU and simulated device against a C++ loop.
#   7. pkg_config_main.cpp builds with `pkg-config --cflags --libs tessel` and runs (skipped, with
#      a message, when pkg-config is missing).
#   8. examples/aot builds with tessel_add_aot (the installed `tessel aot` makes its bundle), needs
#      libtessel_runtime and no libtessel or LLVM (readelf), and runs on the simulated device.
cmake_minimum_required(VERSION 3.25)

foreach(v BUILD_DIR SOURCE_DIR WORK_ROOT CXX VERSION)
  if(NOT ${v})
    message(FATAL_ERROR "install test: -D${v}=... is required")
  endif()
endforeach()

string(TIMESTAMP _stamp "%Y%m%d-%H%M%S")
string(RANDOM LENGTH 6 _salt)
set(RUN ${WORK_ROOT}/${_stamp}-${_salt})
file(REMOVE_RECURSE ${RUN})
file(MAKE_DIRECTORY ${RUN})
set(STAGE ${RUN}/stage)
set(PREFIX ${RUN}/moved)

unset(ENV{LD_LIBRARY_PATH})
unset(ENV{CMAKE_PREFIX_PATH})
unset(ENV{PKG_CONFIG_PATH})
set(ENV{TESSEL_CACHE_DIR} ${RUN}/kernel-cache)

function(fail what)
  message(FATAL_ERROR "install test: ${what}\n(this run's files are kept in ${RUN})")
endfunction()

# step(NAME command...): runs the command; fails the test, with its output, when it exits non-zero.
# The output is left in STEP_OUTPUT.
function(step name)
  message(STATUS "install test: ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    fail("step '${name}' failed (${rc}): ${ARGN}\n${out}${err}")
  endif()
  set(STEP_OUTPUT "${out}${err}" PARENT_SCOPE)
endfunction()

# ---- 1. install ---------------------------------------------------------------------------------
step("cmake --install (if files are missing, build everything first)"
  ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${STAGE})
set(expected include/tessel/tessel.h include/tessel/ir/ops.def lib/libtessel.so bin/tessel
  lib/cmake/tessel/tesselConfig.cmake lib/cmake/tessel/tesselConfigVersion.cmake
  lib/cmake/tessel/tesselTargets.cmake lib/pkgconfig/tessel.pc lib/libtessel_runtime.so
  lib/cmake/tessel/tessel_aot.cmake include/tessel/aot/bundle.h)
if(HAVE_SIM)
  list(APPEND expected bin/tessel-sim)
endif()
foreach(f IN LISTS expected)
  if(NOT EXISTS ${STAGE}/${f})
    fail("cmake --install did not install ${f}")
  endif()
endforeach()

# ---- 2. no absolute paths of this machine in the package ----------------------------------------
file(GLOB package_files ${STAGE}/lib/cmake/tessel/*.cmake ${STAGE}/lib/pkgconfig/*.pc)
foreach(f IN LISTS package_files)
  file(READ ${f} text)
  foreach(path ${BUILD_DIR} ${SOURCE_DIR} ${STAGE})
    string(FIND "${text}" "${path}" at)
    if(NOT at EQUAL -1)
      fail("${f} names ${path}: the installed package must not refer to the build machine")
    endif()
  endforeach()
endforeach()

function(check_runpath binary must_contain)
  execute_process(COMMAND ${READELF} -d ${binary} OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    fail("readelf -d ${binary} failed")
  endif()
  string(REGEX MATCH "R(UN)?PATH[^[]*\\[([^]]*)\\]" _ "${dyn}")
  set(runpath "${CMAKE_MATCH_2}")
  foreach(path ${BUILD_DIR} ${SOURCE_DIR} ${STAGE})
    string(FIND "${runpath}" "${path}" at)
    if(NOT at EQUAL -1)
      fail("${binary}'s RUNPATH '${runpath}' names ${path}")
    endif()
  endforeach()
  string(FIND "${runpath}" "${must_contain}" at)
  if(at EQUAL -1)
    fail("${binary}'s RUNPATH '${runpath}' lacks ${must_contain}")
  endif()
endfunction()
if(READELF)
  check_runpath(${STAGE}/bin/tessel "$ORIGIN/../lib")
  check_runpath(${STAGE}/lib/libtessel.so "$ORIGIN")
else()
  message(STATUS "install test: readelf not found, RUNPATHs not checked")
endif()

# ---- 3. move the prefix -------------------------------------------------------------------------
file(RENAME ${STAGE} ${PREFIX})

# ---- 4. the installed command runs from the moved prefix ----------------------------------------
step("moved/bin/tessel version" ${PREFIX}/bin/tessel version)
string(FIND "${STEP_OUTPUT}" "tessel ${VERSION}" at)
if(at EQUAL -1)
  fail("'tessel version' printed no 'tessel ${VERSION}':\n${STEP_OUTPUT}")
endif()

# ---- 5. every installed header compiles on its own ----------------------------------------------
file(GLOB_RECURSE headers RELATIVE ${PREFIX}/include ${PREFIX}/include/tessel/*.h)
foreach(h IN LISTS headers)
  set(tu ${RUN}/headers/${h}.cpp)
  # runtime/dlpack.h needs DLPack's own header; the others need nothing but the prefix.
  if(h STREQUAL "tessel/runtime/dlpack.h")
    file(WRITE ${tu} "#if __has_include(<dlpack/dlpack.h>)\n#include <${h}>\n#endif\n")
  else()
    file(WRITE ${tu} "#include <${h}>\n")
  endif()
  step("header ${h} compiles alone"
    ${CXX} -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I${PREFIX}/include ${tu})
endforeach()

# ---- 6. the standalone example, through find_package --------------------------------------------
if(NOT NINJA)
  fail("ninja was not found when the build was configured (apt-get install ninja-build)")
endif()
step("configure examples/standalone"
  ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/standalone -B ${RUN}/example -G Ninja
    -DCMAKE_MAKE_PROGRAM=${NINJA} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${PREFIX}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release)
string(FIND "${STEP_OUTPUT}" "from ${PREFIX}/lib/cmake/tessel" at)
if(at EQUAL -1)
  fail("examples/standalone did not find tessel in ${PREFIX}:\n${STEP_OUTPUT}")
endif()
step("build examples/standalone" ${CMAKE_COMMAND} --build ${RUN}/example)
step("run examples/standalone" ${RUN}/example/app)
message(STATUS "${STEP_OUTPUT}")

# ---- 7. a one-file program through pkg-config ---------------------------------------------------
if(NOT PKG_CONFIG)
  message(STATUS "install test: pkg-config not found, tessel.pc not tried "
                 "(apt-get install pkg-config; tools/setup.sh lists it)")
else()
  set(ENV{PKG_CONFIG_PATH} ${PREFIX}/lib/pkgconfig)
  step("pkg-config --modversion tessel" ${PKG_CONFIG} --modversion tessel)
  string(STRIP "${STEP_OUTPUT}" modversion)
  if(NOT modversion STREQUAL VERSION)
    fail("pkg-config says tessel ${modversion}, the build is ${VERSION}")
  endif()
  step("pkg-config --cflags --libs tessel" ${PKG_CONFIG} --cflags --libs tessel)
  string(STRIP "${STEP_OUTPUT}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  step("build a program with pkg-config's flags"
    ${CXX} -std=c++20 ${SOURCE_DIR}/tests/install/pkg_config_main.cpp ${flags}
      -Wl,-rpath,${PREFIX}/lib -o ${RUN}/pkg_config_main)
  step("run the pkg-config program" ${RUN}/pkg_config_main)
  message(STATUS "${STEP_OUTPUT}")
endif()

# ---- 8. an AOT bundle through tessel_add_aot, in a program linked to tessel::runtime only ---------
step("configure examples/aot"
  ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/aot -B ${RUN}/aot -G Ninja
    -DCMAKE_MAKE_PROGRAM=${NINJA} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${PREFIX}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release)
step("build examples/aot (runs tessel aot)" ${CMAKE_COMMAND} --build ${RUN}/aot)
if(READELF)
  execute_process(COMMAND ${READELF} -d ${RUN}/aot/aot_app OUTPUT_VARIABLE dyn)
  if(dyn MATCHES "libtessel\\.so" OR dyn MATCHES "LLVM" OR NOT dyn MATCHES "libtessel_runtime")
    fail("examples/aot's program must need libtessel_runtime and neither libtessel nor LLVM:\n${dyn}")
  endif()
endif()
if(HAVE_SIM)
  step("run examples/aot" ${RUN}/aot/aot_app)
  message(STATUS "${STEP_OUTPUT}")
endif()

file(REMOVE_RECURSE ${RUN})
message(STATUS "install test: passed")
