// dgmlab._native: the pybind11 module. Each subsystem registers its functions from its own file.
#include <pybind11/pybind11.h>

#include <string>

#ifdef DGMLAB_WITH_OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

void register_coder(py::module_& m);    // coder.cpp
void register_kernels(py::module_& m);  // kernels.cpp

namespace {

py::dict build_info() {
  py::dict info;
  info["version"] = DGMLAB_VERSION;
  info["compiler"] = DGMLAB_COMPILER;
#ifdef DGMLAB_WITH_OPENMP
  info["openmp"] = true;
  info["omp_max_threads"] = omp_get_max_threads();
#else
  info["openmp"] = false;
  info["omp_max_threads"] = 1;
#endif
#ifdef DGMLAB_WITH_CUDA
  info["cuda"] = true;
  info["cuda_architectures"] = std::string(DGMLAB_CUDA_ARCHITECTURES);
#else
  info["cuda"] = false;
  info["cuda_architectures"] = std::string();
#endif
  info["fp_contract"] = "off";
  return info;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "dgmlab native core: rANS coder, entropy models and numerical kernels";
  m.attr("__version__") = DGMLAB_VERSION;
  m.def("build_info", &build_info, "How this extension was built.");
  register_coder(m);
  register_kernels(m);
}
