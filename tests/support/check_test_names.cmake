# Fails when a doctest case's name cannot be run on its own by ctest.
#
# doctest_discover_tests makes one ctest test per case and runs it with
# --test-case=<name>. CMake splits a list at ';', so a name with ';' became two ctest
# tests whose filters match no case at all; doctest then reports 0 cases and ctest
# counts a pass. 32 cases went unrun that way until this check was added.
#
#   cmake -DBINARY=<doctest executable> -P check_test_names.cmake
execute_process(COMMAND ${BINARY} --list-test-cases --no-intro --no-version
  OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${BINARY} --list-test-cases exited ${rc}")
endif()
string(REPLACE ";" "<SEMICOLON>" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(bad "")
foreach(line IN LISTS lines)
  if(line MATCHES "<SEMICOLON>")
    string(REPLACE "<SEMICOLON>" "\\;" shown "${line}")
    string(APPEND bad "\n  ${shown}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "test case names with ';' (ctest would run none of them; use ','):${bad}")
endif()
list(LENGTH lines count)
message(STATUS "${count} listed lines, no ';' in a test case name")
