// Torch glue of the pooling primitives: cuda_max_pool2d(+_backward), cuda_avg_pool2d(+_backward),
// cuda_adaptive_{avg,max}_pool2d(+_backward), cuda_max_unpool2d(+_backward). Inputs are read
// through their strides (no copies); outputs follow the input's memory format (gradients follow
// grad_output's). The Python layer (convkernels/_checks.py) validates user arguments first; the
// checks here guard the primitive itself.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

#include "ops/checks.h"
#include "ops/pool_window.h"
#include "pool/pool.h"

namespace convkernels {
namespace ops {
namespace {

std::tuple<at::Tensor, at::Tensor> max_pool_forward(const char* op, const at::Tensor& input, const PoolWindow2d& g,
                                                     bool return_indices) {
  const c10::cuda::CUDAGuard device_guard(input.device());
  const auto options = input.options().memory_format(output_memory_format(input));
  const int64_t N = input.size(0), C = input.size(1);
  at::Tensor output = at::empty({N, C, g.h.out, g.w.out}, options);
  at::Tensor indices = return_indices ? at::empty({N, C, g.h.out, g.w.out}, options.dtype(at::kLong))
                                      : at::empty({0}, input.options().dtype(at::kLong));
  if (output.numel() == 0) return {output, indices};
  check_index_limits(op, pool2d_limit_violation(N, C, g));
  Pool2dParams p;
  p.input = input.data_ptr(), p.output = output.data_ptr();
  p.indices = return_indices ? indices.data_ptr<int64_t>() : nullptr;
  p.N = N, p.C = C, p.window = g;
  copy_strides(p.input_strides, input);
  p.channels_last = is_channels_last_output(output);
  check_launch(op, launch_max_pool2d(p, kernel_dtype(input.scalar_type()), current_stream(input)));
  return {output, indices};
}

at::Tensor pool_backward(const char* op, const at::Tensor& grad_output, const at::Tensor* indices,
                         const PoolWindow2d& g, bool count_include_pad, int64_t divisor_override, bool is_max) {
  const c10::cuda::CUDAGuard device_guard(grad_output.device());
  const int64_t N = grad_output.size(0), C = grad_output.size(1);
  at::Tensor grad_input =
      at::empty({N, C, g.h.in, g.w.in}, grad_output.options().memory_format(output_memory_format(grad_output)));
  if (grad_input.numel() == 0) return grad_input;
  if (grad_output.numel() == 0) return grad_input.zero_();
  check_index_limits(op, pool2d_limit_violation(N, C, g));
  Pool2dBackwardParams p;
  p.grad_output = grad_output.data_ptr(), p.grad_input = grad_input.data_ptr();
  p.N = N, p.C = C, p.window = g;
  copy_strides(p.grad_output_strides, grad_output);
  if (indices != nullptr) {
    p.indices = indices->data_ptr<int64_t>();
    copy_strides(p.indices_strides, *indices);
  }
  p.channels_last = is_channels_last_output(grad_input);
  p.count_include_pad = count_include_pad, p.divisor_override = divisor_override;
  const DType dtype = kernel_dtype(grad_output.scalar_type());
  const cudaStream_t stream = current_stream(grad_output);
  check_launch(op, is_max ? launch_max_pool2d_backward(p, dtype, stream) : launch_avg_pool2d_backward(p, dtype, stream));
  return grad_input;
}

void check_indices(const char* op, const at::Tensor& indices, const at::Tensor& like) {
  check_cuda_tensor(op, "indices", indices);
  check_same_device(op, "indices", indices, like);
  TORCH_CHECK(indices.scalar_type() == at::kLong, op, ": indices must be int64, got ", indices.scalar_type());
  TORCH_CHECK(indices.sizes() == like.sizes(), op, ": indices must have shape ", like.sizes(), ", got ",
              indices.sizes());
}

std::tuple<at::Tensor, at::Tensor> cuda_max_pool2d(const at::Tensor& input, at::IntArrayRef kernel,
                                                   at::IntArrayRef stride, at::IntArrayRef padding,
                                                   at::IntArrayRef dilation, bool ceil_mode, bool return_indices) {
  constexpr const char* kOp = "convkernels.cuda_max_pool2d";
  check_floating_4d(kOp, "input", input);
  const PoolWindow2d g = fixed_window(kOp, input.size(2), input.size(3), kernel, stride, padding, dilation, ceil_mode);
  return max_pool_forward(kOp, input, g, return_indices);
}

at::Tensor cuda_max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& indices,
                                    at::IntArrayRef input_size, at::IntArrayRef kernel, at::IntArrayRef stride,
                                    at::IntArrayRef padding, at::IntArrayRef dilation) {
  constexpr const char* kOp = "convkernels.cuda_max_pool2d_backward";
  check_floating_4d(kOp, "grad_output", grad_output);
  check_indices(kOp, indices, grad_output);
  const PoolWindow2d g = backward_window(kOp, grad_output, input_size, kernel, stride, padding, dilation);
  return pool_backward(kOp, grad_output, &indices, g, true, 0, true);
}

at::Tensor cuda_avg_pool2d(const at::Tensor& input, at::IntArrayRef kernel, at::IntArrayRef stride,
                           at::IntArrayRef padding, bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  constexpr const char* kOp = "convkernels.cuda_avg_pool2d";
  check_floating_4d(kOp, "input", input);
  TORCH_CHECK(divisor_override >= 0, kOp, ": divisor_override must be positive (0 = none), got ", divisor_override);
  const int64_t unit[2] = {1, 1};
  const PoolWindow2d g = fixed_window(kOp, input.size(2), input.size(3), kernel, stride, padding, unit, ceil_mode);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty({input.size(0), input.size(1), g.h.out, g.w.out},
                                input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;
  check_index_limits(kOp, pool2d_limit_violation(input.size(0), input.size(1), g));
  Pool2dParams p;
  p.input = input.data_ptr(), p.output = output.data_ptr();
  p.N = input.size(0), p.C = input.size(1), p.window = g;
  copy_strides(p.input_strides, input);
  p.channels_last = is_channels_last_output(output);
  p.count_include_pad = count_include_pad, p.divisor_override = divisor_override;
  check_launch(kOp, launch_avg_pool2d(p, kernel_dtype(input.scalar_type()), current_stream(input)));
  return output;
}

at::Tensor cuda_avg_pool2d_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                    at::IntArrayRef kernel, at::IntArrayRef stride, at::IntArrayRef padding,
                                    bool count_include_pad, int64_t divisor_override) {
  constexpr const char* kOp = "convkernels.cuda_avg_pool2d_backward";
  check_floating_4d(kOp, "grad_output", grad_output);
  const int64_t unit[2] = {1, 1};
  const PoolWindow2d g = backward_window(kOp, grad_output, input_size, kernel, stride, padding, unit);
  return pool_backward(kOp, grad_output, nullptr, g, count_include_pad, divisor_override, false);
}

at::Tensor cuda_adaptive_avg_pool2d(const at::Tensor& input, at::IntArrayRef output_size) {
  constexpr const char* kOp = "convkernels.cuda_adaptive_avg_pool2d";
  check_floating_4d(kOp, "input", input);
  const PoolWindow2d g = adaptive_window(kOp, input.size(2), input.size(3), output_size);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty({input.size(0), input.size(1), g.h.out, g.w.out},
                                input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;
  check_index_limits(kOp, pool2d_limit_violation(input.size(0), input.size(1), g));
  Pool2dParams p;
  p.input = input.data_ptr(), p.output = output.data_ptr();
  p.N = input.size(0), p.C = input.size(1), p.window = g;
  copy_strides(p.input_strides, input);
  p.channels_last = is_channels_last_output(output);
  check_launch(kOp, launch_avg_pool2d(p, kernel_dtype(input.scalar_type()), current_stream(input)));
  return output;
}

at::Tensor cuda_adaptive_avg_pool2d_backward(const at::Tensor& grad_output, at::IntArrayRef input_size) {
  constexpr const char* kOp = "convkernels.cuda_adaptive_avg_pool2d_backward";
  check_floating_4d(kOp, "grad_output", grad_output);
  check_pair(kOp, "input_size", input_size);
  const PoolWindow2d g = adaptive_window(kOp, input_size[0], input_size[1], grad_output.sizes().slice(2));
  return pool_backward(kOp, grad_output, nullptr, g, true, 0, false);
}

std::tuple<at::Tensor, at::Tensor> cuda_adaptive_max_pool2d(const at::Tensor& input, at::IntArrayRef output_size,
                                                            bool return_indices) {
  constexpr const char* kOp = "convkernels.cuda_adaptive_max_pool2d";
  check_floating_4d(kOp, "input", input);
  const PoolWindow2d g = adaptive_window(kOp, input.size(2), input.size(3), output_size);
  return max_pool_forward(kOp, input, g, return_indices);
}

at::Tensor cuda_adaptive_max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& indices,
                                             at::IntArrayRef input_size) {
  constexpr const char* kOp = "convkernels.cuda_adaptive_max_pool2d_backward";
  check_floating_4d(kOp, "grad_output", grad_output);
  check_indices(kOp, indices, grad_output);
  check_pair(kOp, "input_size", input_size);
  const PoolWindow2d g = adaptive_window(kOp, input_size[0], input_size[1], grad_output.sizes().slice(2));
  return pool_backward(kOp, grad_output, &indices, g, true, 0, true);
}

// Unpool: indices must lie in [0, OH*OW) (convkernels.ops.max_unpool2d checks before calling).
at::Tensor cuda_max_unpool2d(const at::Tensor& input, const at::Tensor& indices, at::IntArrayRef output_size) {
  constexpr const char* kOp = "convkernels.cuda_max_unpool2d";
  check_floating_4d(kOp, "input", input);
  check_indices(kOp, indices, input);
  check_pair(kOp, "output_size", output_size);
  TORCH_CHECK(output_size[0] > 0 && output_size[1] > 0, kOp, ": output_size must be positive, got ", output_size);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::zeros({input.size(0), input.size(1), output_size[0], output_size[1]},
                                input.options().memory_format(output_memory_format(input)));
  if (input.numel() == 0) return output;
  Unpool2dParams p;
  p.source = input.data_ptr(), p.indices = indices.data_ptr<int64_t>(), p.dest = output.data_ptr();
  p.N = input.size(0), p.C = input.size(1), p.H = input.size(2), p.W = input.size(3);
  p.OH = output_size[0], p.OW = output_size[1];
  copy_strides(p.source_strides, input);
  copy_strides(p.indices_strides, indices);
  copy_strides(p.dest_strides, output);
  check_launch(kOp, launch_max_unpool2d(p, kernel_dtype(input.scalar_type()), current_stream(input)));
  return output;
}

at::Tensor cuda_max_unpool2d_backward(const at::Tensor& grad_output, const at::Tensor& indices) {
  constexpr const char* kOp = "convkernels.cuda_max_unpool2d_backward";
  check_floating_4d(kOp, "grad_output", grad_output);
  check_cuda_tensor(kOp, "indices", indices);
  check_dim(kOp, "indices", indices, 4);
  TORCH_CHECK(indices.scalar_type() == at::kLong, kOp, ": indices must be int64, got ", indices.scalar_type());
  const c10::cuda::CUDAGuard device_guard(grad_output.device());
  at::Tensor grad_input =
      at::empty(indices.sizes(), grad_output.options().memory_format(output_memory_format(grad_output)));
  if (grad_input.numel() == 0) return grad_input;
  Unpool2dParams p;
  p.source = grad_output.data_ptr(), p.indices = indices.data_ptr<int64_t>(), p.dest = grad_input.data_ptr();
  p.N = indices.size(0), p.C = indices.size(1), p.H = indices.size(2), p.W = indices.size(3);
  p.OH = grad_output.size(2), p.OW = grad_output.size(3);
  copy_strides(p.source_strides, grad_output);
  copy_strides(p.indices_strides, indices);
  copy_strides(p.dest_strides, grad_input);
  check_launch(kOp, launch_max_unpool2d_backward(p, kernel_dtype(grad_output.scalar_type()), current_stream(grad_output)));
  return grad_input;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def("cuda_max_pool2d(Tensor input, int[2] kernel, int[2] stride, int[2] padding, int[2] dilation, "
        "bool ceil_mode, bool return_indices) -> (Tensor, Tensor)");
  m.def("cuda_max_pool2d_backward(Tensor grad_output, Tensor indices, int[2] input_size, int[2] kernel, "
        "int[2] stride, int[2] padding, int[2] dilation) -> Tensor");
  // divisor_override 0 = none
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
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) {
  m.impl("cuda_max_pool2d", &convkernels::ops::cuda_max_pool2d);
  m.impl("cuda_max_pool2d_backward", &convkernels::ops::cuda_max_pool2d_backward);
  m.impl("cuda_avg_pool2d", &convkernels::ops::cuda_avg_pool2d);
  m.impl("cuda_avg_pool2d_backward", &convkernels::ops::cuda_avg_pool2d_backward);
  m.impl("cuda_adaptive_avg_pool2d", &convkernels::ops::cuda_adaptive_avg_pool2d);
  m.impl("cuda_adaptive_avg_pool2d_backward", &convkernels::ops::cuda_adaptive_avg_pool2d_backward);
  m.impl("cuda_adaptive_max_pool2d", &convkernels::ops::cuda_adaptive_max_pool2d);
  m.impl("cuda_adaptive_max_pool2d_backward", &convkernels::ops::cuda_adaptive_max_pool2d_backward);
  m.impl("cuda_max_unpool2d", &convkernels::ops::cuda_max_unpool2d);
  m.impl("cuda_max_unpool2d_backward", &convkernels::ops::cuda_max_unpool2d_backward);
}
