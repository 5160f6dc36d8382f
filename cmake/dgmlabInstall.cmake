# Installs the public headers and a relocatable CMake package so that a C++ project can
#   find_package(dgmlab CONFIG REQUIRED)   # dgmlab_DIR = $(python -m dgmlab.cmake_dir) for a pip install
#   target_link_libraries(app PRIVATE dgmlab::dgmlab)
include(CMakePackageConfigHelpers)
set(DGMLAB_CMAKE_DIR "${DGMLAB_PREFIX}share/cmake/dgmlab")

install(DIRECTORY csrc/include/dgmlab DESTINATION "${DGMLAB_PREFIX}include")
install(TARGETS dgmlab EXPORT dgmlabTargets)
install(EXPORT dgmlabTargets NAMESPACE dgmlab:: DESTINATION "${DGMLAB_CMAKE_DIR}")
configure_package_config_file(cmake/dgmlabConfig.cmake.in "${CMAKE_CURRENT_BINARY_DIR}/dgmlabConfig.cmake"
  INSTALL_DESTINATION "${DGMLAB_CMAKE_DIR}")
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/dgmlabConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/dgmlabConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/dgmlabConfigVersion.cmake"
  DESTINATION "${DGMLAB_CMAKE_DIR}")
