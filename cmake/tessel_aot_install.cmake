# Installing libtessel_runtime (tessel::runtime) and tessel_add_aot() (cmake/tessel_aot.cmake.in)
# with the package; included after cmake/tessel_install.cmake, whose variables it uses.
set_target_properties(tessel_aot_runtime PROPERTIES INSTALL_RPATH "$ORIGIN" INSTALL_RPATH_USE_LINK_PATH ON)
install(TARGETS tessel_aot_runtime EXPORT tesselTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
file(RELATIVE_PATH TESSEL_CMAKEDIR_TO_BINDIR /${TESSEL_INSTALL_CMAKEDIR} /${CMAKE_INSTALL_BINDIR})
configure_file(${CMAKE_SOURCE_DIR}/cmake/tessel_aot.cmake.in ${CMAKE_BINARY_DIR}/cmake/tessel_aot.cmake @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/tessel_aot.cmake DESTINATION ${TESSEL_INSTALL_CMAKEDIR})
