# parley_module(NAME SOURCES ... DEPS ...): one static library per src/ folder.
# Include paths are rooted at src/: #include "store/store.h".
function(parley_module name)
  cmake_parse_arguments(PM "" "" "SOURCES;DEPS" ${ARGN})
  add_library(parley_${name} STATIC ${PM_SOURCES})
  target_include_directories(parley_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(parley_${name} PUBLIC ${PM_DEPS})
endfunction()

# parley_test(NAME SOURCES ... DEPS ...): one gtest executable registered with CTest.
function(parley_test name)
  cmake_parse_arguments(PT "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${PT_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${PT_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${PT_LABELS}" TIMEOUT 300)
endfunction()
