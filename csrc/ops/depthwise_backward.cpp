// Torch glue of the depthwise backward kernels (csrc/kernels/depthwise/depthwise_backward.cu):
//   cuda_depthwise_backward_input(grad_output, input, weight, stride, padding, dilation) -> grad_input
//   cuda_depthwise_backward_weight(grad_output, input, weight, stride, padding, dilation) -> grad_weight
// Both take the forward's input and weight (the input for its shape and layout in the first op),
// so the autograd formula calls them with what it saved. grad_input follows the input's memory
// format (as aten's convolution_backward does); grad_weight is dense [K, 1, R, S].
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "common/index_math.h"
#include "depthwise/depthwise.h"
#include "ops/checks.h"

namespace convkernels {
namespace ops {
namespace {

DepthwiseBackwardParams checked_params(const char* op, const at::Tensor& grad_output, const at::Tensor& input,
                                       const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation) {
  check_cuda_tensor(op, "grad_output", grad_output);
  check_cuda_tensor(op, "input", input);
  check_cuda_tensor(op, "weight", weight);
  check_same_device(op, "grad_output", grad_output, input);
  check_same_device(op, "weight", weight, input);
  check_dim(op, "grad_output", grad_output, 4);
  check_dim(op, "input", input, 4);
  check_dim(op, "weight", weight, 4);
  check_floating_dtype(op, "input", input);
  check_same_dtype(op, "grad_output", grad_output, input);
  check_same_dtype(op, "weight", weight, input);
  check_conv_geometry(op, stride, padding, dilation);
  const int64_t C = input.size(1), K = weight.size(0);
  TORCH_CHECK(weight.size(1) == 1 && C > 0 && K % C == 0, op, ": weight of size ", weight.sizes(),
              " is not a depthwise weight [multiplier * C, 1, R, S] for input ", input.sizes());
  DepthwiseBackwardParams p;
  p.N = input.size(0), p.C = C, p.H = input.size(2), p.W = input.size(3);
  p.K = K, p.R = weight.size(2), p.S = weight.size(3);
  p.P = conv_output_size(p.H, p.R, stride[0], padding[0], dilation[0]);
  p.Q = conv_output_size(p.W, p.S, stride[1], padding[1], dilation[1]);
  TORCH_CHECK(grad_output.sizes() == at::IntArrayRef({p.N, K, p.P, p.Q}), op, ": grad_output has shape ",
              grad_output.sizes(), " but the convolution's output is [", p.N, ", ", K, ", ", p.P, ", ", p.Q, "]");
  p.stride_h = stride[0], p.stride_w = stride[1], p.pad_h = padding[0], p.pad_w = padding[1];
  p.dil_h = dilation[0], p.dil_w = dilation[1];
  p.grad_output = grad_output.data_ptr();
  p.input = input.data_ptr();
  p.weight = weight.data_ptr();
  copy_strides(p.grad_output_strides, grad_output);
  copy_strides(p.input_strides, input);
  copy_strides(p.weight_strides, weight);
  check_index_limits(op, depthwise_backward_index_limit_violation(p));
  return p;
}

at::Tensor cuda_depthwise_backward_input(const at::Tensor& grad_output, const at::Tensor& input,
                                         const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding,
                                         at::IntArrayRef dilation) {
  constexpr const char* kOp = "convkernels.cuda_depthwise_backward_input";
  DepthwiseBackwardParams p = checked_params(kOp, grad_output, input, weight, stride, padding, dilation);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor grad_input = at::empty(input.sizes(), input.options().memory_format(output_memory_format(input)));
  if (grad_input.numel() == 0) return grad_input;
  if (grad_output.numel() == 0) return grad_input.zero_();
  p.grad_input = grad_input.data_ptr();
  copy_strides(p.grad_input_strides, grad_input);
  const cudaStream_t stream = current_stream(input);
  check_launch(kOp, launch_depthwise_backward_input(p, kernel_dtype(input.scalar_type()), stream));
  return grad_input;
}

at::Tensor cuda_depthwise_backward_weight(const at::Tensor& grad_output, const at::Tensor& input,
                                          const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding,
                                          at::IntArrayRef dilation) {
  constexpr const char* kOp = "convkernels.cuda_depthwise_backward_weight";
  DepthwiseBackwardParams p = checked_params(kOp, grad_output, input, weight, stride, padding, dilation);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor grad_weight = at::empty(weight.sizes(), weight.options().memory_format(at::MemoryFormat::Contiguous));
  if (grad_weight.numel() == 0) return grad_weight;
  if (grad_output.numel() == 0) return grad_weight.zero_();
  at::Tensor workspace =
      at::empty({depthwise_weight_grad_workspace_floats(p)}, input.options().dtype(at::kFloat));
  p.grad_weight = grad_weight.data_ptr();
  p.workspace = workspace.data_ptr<float>();
  const cudaStream_t stream = current_stream(input);
  check_launch(kOp, launch_depthwise_backward_weight(p, kernel_dtype(input.scalar_type()), stream));
  return grad_weight;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def(
      "cuda_depthwise_backward_input(Tensor grad_output, Tensor input, Tensor weight, int[2] stride, "
      "int[2] padding, int[2] dilation) -> Tensor");
  m.def(
      "cuda_depthwise_backward_weight(Tensor grad_output, Tensor input, Tensor weight, int[2] stride, "
      "int[2] padding, int[2] dilation) -> Tensor");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) {
  m.impl("cuda_depthwise_backward_input", &convkernels::ops::cuda_depthwise_backward_input);
  m.impl("cuda_depthwise_backward_weight", &convkernels::ops::cuda_depthwise_backward_weight);
}
