# Compile options for everything on the coding path.
#
# Bitstreams must decode on another machine, so the CDF arithmetic has to be the same sequence of IEEE-754
# operations everywhere: no fused multiply-add contraction (aarch64 compilers contract by default), no fast-math,
# no x87 excess precision. -O3 is otherwise safe: it never reassociates floating-point arithmetic.
function(dgmlab_set_compile_options target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-O3 -ffp-contract=off -fno-fast-math -Wall -Wextra -Wno-unknown-pragmas>)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(i.86|x86)$")
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-msse2 -mfpmath=sse>)
    endif()
  elseif(MSVC)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:/O2 /fp:precise>)
  endif()
endfunction()
