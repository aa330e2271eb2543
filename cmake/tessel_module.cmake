# tessel_module(NAME sources...): one module of libtessel, compiled as an object library so that
# all modules link into the one shared libtessel (LLVM is linked once, DESIGN §9).
function(tessel_module name)
  add_library(tessel_${name} OBJECT ${ARGN})
  target_include_directories(tessel_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}>)
  target_link_libraries(tessel_${name} PUBLIC fmt::fmt)
  set_property(GLOBAL APPEND PROPERTY TESSEL_MODULES tessel_${name})
  if(name IN_LIST TESSEL_SANITIZE_SKIP)
    get_target_property(_opts tessel_${name} COMPILE_OPTIONS)
    list(FILTER _opts EXCLUDE REGEX "^-fsanitize|^-fno-sanitize|^-fno-omit-frame-pointer$")
    set_property(TARGET tessel_${name} PROPERTY COMPILE_OPTIONS "${_opts}")
  endif()
endfunction()

# A module whose sources include LLVM headers.
function(tessel_module_uses_llvm name)
  target_include_directories(tessel_${name} SYSTEM PRIVATE ${LLVM_INCLUDE_DIRS})
  target_compile_definitions(tessel_${name} PRIVATE ${LLVM_DEFINITIONS})
endfunction()
