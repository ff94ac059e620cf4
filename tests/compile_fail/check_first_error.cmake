# SPDX-License-Identifier: MIT
# Builds TARGET in BUILD_DIR (cmake -P, from a compile_fail test). When SOURCE has a line
# "// FIRST ERROR: <text>", the build must fail and the first "error:" line of the compiler's output
# must contain <text> ("// ONLY ERROR": and be the only one); otherwise the build must succeed.
file(READ ${SOURCE} source)
string(REGEX MATCH "\n// FIRST ERROR: ([^\n]*)" first "${source}")
set(expected "${CMAKE_MATCH_1}")
string(FIND "${source}" "\n// ONLY ERROR\n" only)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)

if(NOT first)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${SOURCE} must compile, but:\n${output}")
  endif()
  return()
endif()

# Semicolons would split the output's lines into list elements: both sides compare them as commas.
string(REPLACE ";" "," expected "${expected}")
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled; it must fail with: ${expected}")
endif()
string(REPLACE ";" "," output_lines "${output}")
string(REPLACE "\n" ";" output_lines "${output_lines}")
set(errors "")
foreach(line IN LISTS output_lines)
  if(line MATCHES "error: ")
    list(APPEND errors "${line}")
  endif()
endforeach()
list(LENGTH errors count)
if(count EQUAL 0)
  message(FATAL_ERROR "${SOURCE}: no \"error:\" line in the output:\n${output}")
endif()
list(GET errors 0 first_error)
string(FIND "${first_error}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE}: the first error is\n  ${first_error}\nnot one containing\n  ${expected}\n\n${output}")
endif()
if(NOT only EQUAL -1 AND NOT count EQUAL 1)
  message(FATAL_ERROR "${SOURCE}: ${count} errors, where the static_assert must be the only one:\n${output}")
endif()
