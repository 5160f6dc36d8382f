// Numerical kernels (Cholesky -> autoregressive, logistic-mixture CDF inversion) register here.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_kernels(py::module_& m) { (void)m; }
