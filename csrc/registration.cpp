// Every schema of the convkernels library, in one place (docs/architecture.md is the contract),
// plus the minimal Python module init of convkernels._C. Importing the module only has to load
// this shared library: the static registrations below (and the TORCH_LIBRARY_IMPL blocks in
// csrc/ops/*.cpp) run at load time. No pybind11 is involved.
//
// The build facts (torch, CUDA, archs, compiler) are not compiled in: setup.py writes them to
// _C.build.json beside this library, so importing the package runs no code of ours beyond the
// static registrations (see convkernels/_extension.py for why).
#include <Python.h>
#include <torch/library.h>

#include <sstream>
#include <string>

namespace convkernels {
namespace {

// Formats text the way every TORCH_CHECK in the glue does (c10::str -> std::ostringstream) and
// throws/catches a c10::Error. If the C++ standard library this extension runs against is not
// the one its compiler's headers describe, this is where it breaks, and the build check
// (tools/check_extension_runtime.py) reports it in a subprocess instead of letting a user's first
// bad argument crash their process.
std::string runtime_selftest() {
  std::ostringstream stream;
  stream << "streams ok (" << 42 << ", " << 0.5 << ")";
  try {
    TORCH_CHECK(false, "checks ok (", 7, ")");
  } catch (const c10::Error& e) {
    return stream.str() + "; " + e.msg();
  }
  return stream.str() + "; TORCH_CHECK did not throw";
}

}  // namespace
}  // namespace convkernels

TORCH_LIBRARY(convkernels, m) {
  m.def(
      "cuda_conv2d_fused(Tensor input, Tensor weight, Tensor? scale, Tensor? shift, Tensor? residual, "
      "int[2] stride, int[2] padding, int[2] dilation, int groups, bool relu) -> Tensor");
  m.def("cuda_channel_moments(Tensor input) -> (Tensor, Tensor)");
  m.def("cuda_scale_shift_relu(Tensor input, Tensor scale, Tensor shift, Tensor? residual, bool relu) -> Tensor");
  // ---- pooling and local response normalization (families pool, lrn); divisor_override 0 = none
  m.def("cuda_max_pool2d(Tensor input, int[2] kernel, int[2] stride, int[2] padding, int[2] dilation, "
        "bool ceil_mode, bool return_indices) -> (Tensor, Tensor)");
  m.def("cuda_max_pool2d_backward(Tensor grad_output, Tensor indices, int[2] input_size, int[2] kernel, "
        "int[2] stride, int[2] padding, int[2] dilation) -> Tensor");
  m.def("cuda_avg_pool2d(Tensor input, int[2] kernel, int[2] stride, int[2] padding, bool ceil_mode, "
        "bool count_include_pad, int divisor_override) -> Tensor");
  m.def("cuda_avg_pool2d_backward(Tensor grad_output, int[2] input_size, int[2] kernel, int[2] stride, "
        "int[2] padding, bool count_include_pad, int divisor_override) -> Tensor");
  m.def("cuda_adaptive_avg_pool2d(Tensor input, int[2] output_size) -> Tensor");
  m.def("cuda_adaptive_avg_pool2d_backward(Tensor grad_output, int[2] input_size) -> Tensor");
  m.def("cuda_adaptive_max_pool2d(Tensor input, int[2] output_size, bool return_indices) -> (Tensor, Tensor)");
  m.def("cuda_adaptive_max_pool2d_backward(Tensor grad_output, Tensor indices, int[2] input_size) -> Tensor");
  m.def("cuda_max_unpool2d(Tensor input, Tensor indices, int[2] output_size) -> Tensor");
  m.def("cuda_max_unpool2d_backward(Tensor grad_output, Tensor indices) -> Tensor");
  m.def("cuda_local_response_norm(Tensor input, int size, float alpha, float beta, float k) -> Tensor");
  m.def("cuda_local_response_norm_backward(Tensor grad_output, Tensor input, int size, float alpha, float beta, "
        "float k) -> Tensor");
  m.def("cuda_lrn_max_pool2d(Tensor input, int size, float alpha, float beta, float k, int[2] kernel, "
        "int[2] stride, int[2] padding, int[2] dilation, bool ceil_mode, bool pool_first, bool return_indices) "
        "-> (Tensor, Tensor)");

  // ---- resize_conv: nearest (phase-folded weight [Lh, Lw, K, C, Th, Tw]) and bilinear ----
  m.def(
      "cuda_resize_nearest_conv2d_fused(Tensor input, Tensor folded_weight, Tensor? scale, Tensor? shift, "
      "int scale_factor, int[2] padding, int[2] stride, int[2] kernel_size, bool relu) -> Tensor");
  m.def(
      "cuda_resize_bilinear_conv2d_fused(Tensor input, Tensor weight, Tensor? scale, Tensor? shift, "
      "int scale_factor, int[2] padding, int[2] stride, bool align_corners, bool relu) -> Tensor");
  // ---- winograd: U = G w G^T, and the fused F(mxm,3x3) conv reading U (weight only
  // carries the gradient; see csrc/ops/winograd.cpp).
  m.def("cuda_winograd_filter_transform(Tensor weight, int tile) -> Tensor");
  m.def(
      "cuda_winograd_conv2d_fused(Tensor input, Tensor weight, Tensor transformed_weight, Tensor? scale, "
      "Tensor? shift, Tensor? residual, int[2] padding, int tile, bool relu) -> Tensor");
  // ---- end winograd

  // ---- grouped / depthwise (csrc/ops/depthwise_backward.cpp; the forward is cuda_conv2d_fused) ----
  m.def(
      "cuda_depthwise_backward_input(Tensor grad_output, Tensor input, Tensor weight, int[2] stride, "
      "int[2] padding, int[2] dilation) -> Tensor");
  m.def(
      "cuda_depthwise_backward_weight(Tensor grad_output, Tensor input, Tensor weight, int[2] stride, "
      "int[2] padding, int[2] dilation) -> Tensor");
  m.def(
      "cuda_separable_conv2d_fused(Tensor input, Tensor dw_weight, Tensor pw_weight, Tensor? mid_scale, "
      "Tensor? mid_shift, bool mid_relu, Tensor? scale, Tensor? shift, bool relu, int[2] stride, int[2] padding, "
      "int[2] dilation) -> Tensor");
  // ---- end grouped / depthwise ----

  // ---- local_conv (locally connected, unshared-weight convolution) ----
  m.def(
      "cuda_local_conv2d(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, "
      "int[2] dilation) -> Tensor");
}

namespace {
PyObject* py_runtime_selftest(PyObject* /*self*/, PyObject* /*unused*/) {
  try {
    return PyUnicode_FromString(convkernels::runtime_selftest().c_str());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

PyMethodDef module_methods[] = {
    {"_runtime_selftest", py_runtime_selftest, METH_NOARGS,
     "Exercise the C++ runtime (streams, TORCH_CHECK); never called at import."},
    {nullptr, nullptr, 0, nullptr},
};
}  // namespace

extern "C" {
// `import convkernels._C` needs a module object; the ops live in torch.ops.convkernels.
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",  // name
      "convkernels CUDA kernels; the operators are registered as torch.ops.convkernels.cuda_*",
      -1,              // per-interpreter state size
      module_methods,  // _runtime_selftest()
  };
  return PyModule_Create(&module_def);
}
}
