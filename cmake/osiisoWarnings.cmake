include_guard(GLOBAL)

# Warnings as errors for osiiso's own targets only; consumers never inherit them.
function(osiiso_enable_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()
