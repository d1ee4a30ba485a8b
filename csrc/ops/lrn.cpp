// Torch glue of the LRN primitives: cuda_local_response_norm, its fused backward, and
// cuda_lrn_max_pool2d (LRN and max-pool in one pass, either order).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

#include "lrn/lrn.h"
#include "ops/checks.h"
#include "ops/pool_window.h"
#include "pool/pool.h"

namespace convkernels {
namespace ops {
namespace {

LrnCoefficients lrn_coefficients(const char* op, int64_t size, double alpha, double beta, double k) {
  TORCH_CHECK(size > 0, op, ": size must be positive, got ", size);
  LrnCoefficients c;
  c.size = size, c.alpha = static_cast<float>(alpha), c.beta = static_cast<float>(beta), c.k = static_cast<float>(k);
  return c;
}

at::Tensor cuda_local_response_norm(const at::Tensor& input, int64_t size, double alpha, double beta, double k) {
  constexpr const char* kOp = "convkernels.cuda_local_response_norm";
  check_floating_4d(kOp, "input", input);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty(input.sizes(), input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;
  LrnParams p;
  p.input = input.data_ptr(), p.output = output.data_ptr();
  p.N = input.size(0), p.C = input.size(1), p.H = input.size(2), p.W = input.size(3);
  p.lrn = lrn_coefficients(kOp, size, alpha, beta, k);
  copy_strides(p.input_strides, input);
  p.channels_last = is_channels_last_output(output);
  check_index_limits(kOp, lrn_limit_violation(p));
  check_launch(kOp, launch_local_response_norm(p, kernel_dtype(input.scalar_type()), current_stream(input)));
  return output;
}

at::Tensor cuda_local_response_norm_backward(const at::Tensor& grad_output, const at::Tensor& input, int64_t size,
                                             double alpha, double beta, double k) {
  constexpr const char* kOp = "convkernels.cuda_local_response_norm_backward";
  check_floating_4d(kOp, "grad_output", grad_output);
  check_floating_4d(kOp, "input", input);
  check_same_device(kOp, "grad_output", grad_output, input);
  check_same_dtype(kOp, "grad_output", grad_output, input);
  TORCH_CHECK(grad_output.sizes() == input.sizes(), kOp, ": grad_output must have the input's shape ", input.sizes(),
              ", got ", grad_output.sizes());
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor grad_input =
      at::empty(input.sizes(), grad_output.options().memory_format(output_memory_format(grad_output)));
  if (grad_input.numel() == 0) return grad_input;
  LrnParams p;
  p.input = input.data_ptr(), p.grad_output = grad_output.data_ptr(), p.output = grad_input.data_ptr();
  p.N = input.size(0), p.C = input.size(1), p.H = input.size(2), p.W = input.size(3);
  p.lrn = lrn_coefficients(kOp, size, alpha, beta, k);
  copy_strides(p.input_strides, input);
  copy_strides(p.grad_output_strides, grad_output);
  p.channels_last = is_channels_last_output(grad_input);
  check_index_limits(kOp, lrn_limit_violation(p));
  check_launch(kOp, launch_local_response_norm_backward(p, kernel_dtype(input.scalar_type()), current_stream(input)));
  return grad_input;
}

std::tuple<at::Tensor, at::Tensor> cuda_lrn_max_pool2d(const at::Tensor& input, int64_t size, double alpha,
                                                       double beta, double k, at::IntArrayRef kernel,
                                                       at::IntArrayRef stride, at::IntArrayRef padding,
                                                       at::IntArrayRef dilation, bool ceil_mode, bool pool_first,
                                                       bool return_indices) {
  constexpr const char* kOp = "convkernels.cuda_lrn_max_pool2d";
  check_floating_4d(kOp, "input", input);
  const PoolWindow2d g = fixed_window(kOp, input.size(2), input.size(3), kernel, stride, padding, dilation, ceil_mode);
  const c10::cuda::CUDAGuard device_guard(input.device());
  const auto options = input.options().memory_format(output_memory_format(input));
  const int64_t N = input.size(0), C = input.size(1);
  at::Tensor output = at::empty({N, C, g.h.out, g.w.out}, options);
  at::Tensor indices = return_indices ? at::empty({N, C, g.h.out, g.w.out}, options.dtype(at::kLong))
                                      : at::empty({0}, input.options().dtype(at::kLong));
  if (output.numel() == 0) return {output, indices};
  check_index_limits(kOp, pool2d_limit_violation(N, C, g));
  LrnMaxPoolParams p;
  p.input = input.data_ptr(), p.output = output.data_ptr();
  p.indices = return_indices ? indices.data_ptr<int64_t>() : nullptr;
  p.N = N, p.C = C, p.window = g, p.pool_first = pool_first;
  p.lrn = lrn_coefficients(kOp, size, alpha, beta, k);
  copy_strides(p.input_strides, input);
  p.channels_last = is_channels_last_output(output);
  check_launch(kOp, launch_lrn_max_pool2d(p, kernel_dtype(input.scalar_type()), current_stream(input)));
  return {output, indices};
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def("cuda_local_response_norm(Tensor input, int size, float alpha, float beta, float k) -> Tensor");
  m.def("cuda_local_response_norm_backward(Tensor grad_output, Tensor input, int size, float alpha, float beta, "
        "float k) -> Tensor");
  m.def("cuda_lrn_max_pool2d(Tensor input, int size, float alpha, float beta, float k, int[2] kernel, "
        "int[2] stride, int[2] padding, int[2] dilation, bool ceil_mode, bool pool_first, bool return_indices) "
        "-> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) {
  m.impl("cuda_local_response_norm", &convkernels::ops::cuda_local_response_norm);
  m.impl("cuda_local_response_norm_backward", &convkernels::ops::cuda_local_response_norm_backward);
  m.impl("cuda_lrn_max_pool2d", &convkernels::ops::cuda_lrn_max_pool2d);
}
