// Torch glue of the fused separable convolution (csrc/kernels/depthwise/separable_fused.cu):
//   cuda_separable_conv2d_fused(input, dw_weight, pw_weight, mid_scale, mid_shift, mid_relu,
//                               scale, shift, relu, stride, padding, dilation) -> Tensor
// Inference only (no autograd): ops.separable_conv2d calls it for fp16/bf16 on sm_80+ when no
// gradient is needed and K fits the kernel; otherwise it runs two conv2d_fused launches.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>

#include "common/index_math.h"
#include "depthwise/depthwise.h"
#include "ops/checks.h"

namespace convkernels {
namespace ops {
namespace {

constexpr const char* kOp = "convkernels.cuda_separable_conv2d_fused";

at::Tensor cuda_separable_conv2d_fused(const at::Tensor& input, const at::Tensor& dw_weight,
                                       const at::Tensor& pw_weight, const std::optional<at::Tensor>& mid_scale,
                                       const std::optional<at::Tensor>& mid_shift, bool mid_relu,
                                       const std::optional<at::Tensor>& scale, const std::optional<at::Tensor>& shift,
                                       bool relu, at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation) {
  check_cuda_tensor(kOp, "input", input);
  check_cuda_tensor(kOp, "dw_weight", dw_weight);
  check_cuda_tensor(kOp, "pw_weight", pw_weight);
  check_same_device(kOp, "dw_weight", dw_weight, input);
  check_same_device(kOp, "pw_weight", pw_weight, input);
  check_dim(kOp, "input", input, 4);
  check_dim(kOp, "dw_weight", dw_weight, 4);
  check_dim(kOp, "pw_weight", pw_weight, 4);
  check_floating_dtype(kOp, "input", input);
  check_same_dtype(kOp, "dw_weight", dw_weight, input);
  check_same_dtype(kOp, "pw_weight", pw_weight, input);
  check_conv_geometry(kOp, stride, padding, dilation);
  SeparableParams p;
  p.N = input.size(0), p.C = input.size(1), p.H = input.size(2), p.W = input.size(3);
  p.CM = dw_weight.size(0), p.R = dw_weight.size(2), p.S = dw_weight.size(3), p.K = pw_weight.size(0);
  TORCH_CHECK(dw_weight.size(1) == 1 && p.C > 0 && p.CM % p.C == 0, kOp, ": dw_weight of size ", dw_weight.sizes(),
              " is not a depthwise weight for input ", input.sizes());
  TORCH_CHECK(pw_weight.size(1) == p.CM && pw_weight.size(2) == 1 && pw_weight.size(3) == 1, kOp,
              ": pw_weight must have shape [K, ", p.CM, ", 1, 1], got ", pw_weight.sizes());
  p.P = conv_output_size(p.H, p.R, stride[0], padding[0], dilation[0]);
  p.Q = conv_output_size(p.W, p.S, stride[1], padding[1], dilation[1]);
  TORCH_CHECK(p.P > 0 && p.Q > 0, kOp, ": output size is too small (", p.P, " x ", p.Q, ")");
  p.stride_h = stride[0], p.stride_w = stride[1], p.pad_h = padding[0], p.pad_w = padding[1];
  p.dil_h = dilation[0], p.dil_w = dilation[1];
  const at::Tensor mid_scale_vec = checked_optional_channel_vector(kOp, "mid_scale", mid_scale, p.CM, input);
  const at::Tensor mid_shift_vec = checked_optional_channel_vector(kOp, "mid_shift", mid_shift, p.CM, input);
  const at::Tensor scale_vec = checked_optional_channel_vector(kOp, "scale", scale, p.K, input);
  const at::Tensor shift_vec = checked_optional_channel_vector(kOp, "shift", shift, p.K, input);
  p.mid_scale = float_data_or_null(mid_scale_vec);
  p.mid_shift = float_data_or_null(mid_shift_vec);
  p.scale = float_data_or_null(scale_vec);
  p.shift = float_data_or_null(shift_vec);
  p.mid_relu = mid_relu, p.relu = relu;

  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty({p.N, p.K, p.P, p.Q}, input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;
  const DType dtype = kernel_dtype(input.scalar_type());
  const char* why = separable_fused_unsupported(p, dtype);
  TORCH_CHECK(why[0] == '\0', kOp, ": the fused kernel does not take this call: ", why,
              " (ops.separable_conv2d runs two launches in that case)");
  p.input = input.data_ptr(), p.dw_weight = dw_weight.data_ptr(), p.pw_weight = pw_weight.data_ptr();
  p.output = output.data_ptr();
  copy_strides(p.input_strides, input);
  copy_strides(p.dw_strides, dw_weight);
  copy_strides(p.pw_strides, pw_weight);
  copy_strides(p.output_strides, output);
  const cudaStream_t stream = current_stream(input);
  check_launch(kOp, launch_separable_conv2d_fused(p, dtype, stream));
  return output;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def(
      "cuda_separable_conv2d_fused(Tensor input, Tensor dw_weight, Tensor pw_weight, Tensor? mid_scale, "
      "Tensor? mid_shift, bool mid_relu, Tensor? scale, Tensor? shift, bool relu, int[2] stride, int[2] padding, "
      "int[2] dilation) -> Tensor");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) {
  m.impl("cuda_separable_conv2d_fused", &convkernels::ops::cuda_separable_conv2d_fused);
}
