# `cmake --install`: the public headers, libtessel, the `tessel` and `tessel-sim` commands, a CMake
# package (find_package(tessel) -> tessel::tessel) and a pkg-config file (tessel.pc). The installed
# tree is relocatable: the package files find the prefix from their own location, and installed
# binaries find libtessel through a RUNPATH relative to $ORIGIN. See docs/install.md.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TESSEL_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/tessel)

# libtessel finds its siblings beside it; LLVM (when shared) and fmt by the directories it was
# linked from outside the build tree (system directories are left out by CMake).
file(RELATIVE_PATH _tessel_lib_from_bin /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
set_target_properties(tessel PROPERTIES
  INSTALL_RPATH "$ORIGIN" INSTALL_RPATH_USE_LINK_PATH ON)
set_target_properties(tessel-cli PROPERTIES
  INSTALL_RPATH "$ORIGIN/${_tessel_lib_from_bin}" INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS tessel EXPORT tesselTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tessel-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET tessel-sim)
  install(TARGETS tessel-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# The headers of the sample kernels are left out: their library (tessel_samples) is part of the
# `tessel` command, not of libtessel.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/tessel DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  PATTERN samples EXCLUDE)

install(EXPORT tesselTargets NAMESPACE tessel:: DESTINATION ${TESSEL_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/tesselConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/tesselConfig.cmake INSTALL_DESTINATION ${TESSEL_INSTALL_CMAKEDIR})
# Before 1.0 a minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/tesselConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/tesselConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/tesselConfigVersion.cmake
  DESTINATION ${TESSEL_INSTALL_CMAKEDIR})

# A sanitized libtessel (the debug preset) only loads into a program that links the sanitizer
# runtimes itself (they must come first in the library list), so the package asks for them.
set(TESSEL_PC_SANITIZE "")
if(TESSEL_SANITIZE)
  string(REPLACE ";" "," _tessel_san "${TESSEL_SANITIZE}")
  target_link_options(tessel INTERFACE -fsanitize=${_tessel_san})
  set(TESSEL_PC_SANITIZE " -fsanitize=${_tessel_san}")
endif()

# tessel.pc names the prefix relative to its own directory (${pcfiledir}), so it moves with it.
file(RELATIVE_PATH TESSEL_PC_PREFIX_FROM_PCDIR /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" TESSEL_PC_PREFIX_FROM_PCDIR "${TESSEL_PC_PREFIX_FROM_PCDIR}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/tessel.pc.in ${CMAKE_BINARY_DIR}/cmake/tessel.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/tessel.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
