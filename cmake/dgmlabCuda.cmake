# CUDA kernels (csrc/cuda/*.cu): built when a toolkit is found (DGMLAB_CUDA=AUTO), required with ON, skipped with OFF.
# The default architectures need no GPU at build time (`native` would); override with CMAKE_CUDA_ARCHITECTURES.
set(DGMLAB_CUDA_ENABLED OFF)
file(GLOB DGMLAB_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/csrc/cuda/*.cu)
if(NOT DGMLAB_CUDA STREQUAL "OFF" AND DGMLAB_CUDA_SOURCES)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
      set(CMAKE_CUDA_ARCHITECTURES "75;80;90")
    endif()
    enable_language(CUDA)
    set(DGMLAB_CUDA_ENABLED ON)
  elseif(DGMLAB_CUDA STREQUAL "ON")
    message(FATAL_ERROR "dgmlab: DGMLAB_CUDA=ON but no CUDA compiler was found (set CUDACXX or PATH)")
  endif()
endif()

if(DGMLAB_CUDA_ENABLED)
  target_sources(_native PRIVATE ${DGMLAB_CUDA_SOURCES})
  # _native was created before CUDA was enabled, so it did not pick up CMAKE_CUDA_ARCHITECTURES by itself.
  set_target_properties(_native PROPERTIES CUDA_SEPARABLE_COMPILATION OFF CUDA_RUNTIME_LIBRARY Static
    CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
  target_compile_options(_native PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 --fmad=false -Xcompiler=-fPIC>)
  string(REPLACE ";" "," _dgmlab_cuda_archs "${CMAKE_CUDA_ARCHITECTURES}")  # a ';' would split the definition
  target_compile_definitions(_native PRIVATE DGMLAB_WITH_CUDA=1
    DGMLAB_CUDA_ARCHITECTURES="${_dgmlab_cuda_archs}")
  message(STATUS "dgmlab: CUDA ${CMAKE_CUDA_COMPILER_VERSION} enabled for architectures ${CMAKE_CUDA_ARCHITECTURES}")
else()
  message(STATUS "dgmlab: CUDA kernels not built (DGMLAB_CUDA=${DGMLAB_CUDA})")
endif()
