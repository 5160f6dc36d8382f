// Forced inlining for the coding path's hot loops: GCC's and Clang's inliner budgets otherwise leave calls (and
// the spills around them) on the decoder's dependency chain, and which ones changes with unrelated edits.
// DGMLAB_LAMBDA_INLINE is the attribute alone, for lambdas and member functions.
#pragma once

#if defined(__GNUC__)
#define DGMLAB_ALWAYS_INLINE inline __attribute__((always_inline))
#define DGMLAB_LAMBDA_INLINE __attribute__((always_inline))
#else
#define DGMLAB_ALWAYS_INLINE inline
#define DGMLAB_LAMBDA_INLINE
#endif
