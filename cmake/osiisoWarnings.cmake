include_guard(GLOBAL)

# Warnings as errors for osiiso's own targets only; consumers never inherit them.
function(osiiso_enable_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  # GCC 12 reports a false -Wrestrict inside std::string's operator+ at -O2/-O3 (GCC PR 105651).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
endfunction()
