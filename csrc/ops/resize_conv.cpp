// Torch glue for cuda_resize_nearest_conv2d_fused and cuda_resize_bilinear_conv2d_fused:
// validation, layout preparation, launch (kernels: csrc/kernels/resize_conv/).
//
// Nearest takes the phase-folded weight [Lh, Lw, K, C, Th, Tw] (convkernels.ops folds and caches
// it). Tensor cores when the dtype allows (fp16/bf16; fp32 when cuDNN convolutions may use TF32,
// the flag F.conv2d follows, or when split_tf32 asks for 3xTF32: convkernels' "tf32x3" mode,
// fp32-level error whatever the flag says), C fills whole 16-byte chunks and the GPU is sm_80+
// (an fp32 call the tensor cores cannot take runs the SIMT kernel, full fp32): the input is
// used as dense NHWC (copied with .contiguous(channels_last) otherwise) and the folded weight as
// dense [Lh, Lw, K, Th, Tw, C] (the layout the fold produces, so normally no copy). Otherwise the
// SIMT conv kernel runs once per class through the strides. The output is written in the input's
// memory format directly (interleaved phases, no shuffle pass).
//
// Bilinear takes the [K, C, R, S] weight; the same tensor-core rule, with the weight as dense KRSC;
// otherwise the SIMT kernel through the strides.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>
#include <vector>

#include "ops/checks.h"
#include "ops/tf32_flag.h"
#include "resize_conv/phase_plan.h"
#include "resize_conv/resize_conv.h"

namespace convkernels {
namespace ops {
namespace {

constexpr const char* kNearestOp = "convkernels.cuda_resize_nearest_conv2d_fused";
constexpr const char* kBilinearOp = "convkernels.cuda_resize_bilinear_conv2d_fused";

// fp16/bf16, or fp32 when cuDNN convolutions may use TF32 or 3xTF32 is asked for; sm_80+; C
// fills 16-byte chunks.
bool tensor_cores_allowed(const at::Tensor& input, DType dtype, bool split_tf32) {
  return (dtype != DType::kFloat32 || split_tf32 || cudnn_conv_allows_tf32()) &&
         device_compute_major(input.get_device()) >= 8 && input.size(1) % (16 / dtype_size(dtype)) == 0;
}

// Common checks; fills the sizes, the epilogue vectors and an empty output.
struct Prepared {
  ResizeConvParams params;
  at::Tensor scale, shift, output;
};

Prepared prepare(const char* op, const at::Tensor& input, const at::Tensor& weight, int64_t K, int64_t R, int64_t S,
                 const std::optional<at::Tensor>& scale, const std::optional<at::Tensor>& shift, int64_t scale_factor,
                 at::IntArrayRef padding, at::IntArrayRef stride, bool relu) {
  check_cuda_tensor(op, "input", input);
  check_cuda_tensor(op, "weight", weight);
  check_same_device(op, "weight", weight, input);
  check_dim(op, "input", input, 4);
  check_floating_dtype(op, "input", input);
  check_same_dtype(op, "weight", weight, input);
  check_pair(op, "padding", padding);
  check_pair(op, "stride", stride);
  TORCH_CHECK(scale_factor >= 1, op, ": scale_factor must be >= 1, got ", scale_factor);
  TORCH_CHECK(stride[0] > 0 && stride[1] > 0, op, ": stride must be positive, got ", stride);
  TORCH_CHECK(padding[0] >= 0 && padding[1] >= 0, op, ": padding must be non-negative, got ", padding);
  TORCH_CHECK(R > 0 && S > 0, op, ": kernel size must be positive, got (", R, " x ", S, ")");
  Prepared out;
  ResizeConvParams& p = out.params;
  p.N = input.size(0), p.C = input.size(1), p.H = input.size(2), p.W = input.size(3), p.K = K;
  p.R = R, p.S = S;
  p.scale_factor = scale_factor;
  p.stride_h = stride[0], p.stride_w = stride[1], p.pad_h = padding[0], p.pad_w = padding[1];
  p.P = floor_div64(scale_factor * p.H + 2 * p.pad_h - R, p.stride_h) + 1;
  p.Q = floor_div64(scale_factor * p.W + 2 * p.pad_w - S, p.stride_w) + 1;
  TORCH_CHECK(p.P > 0 && p.Q > 0, op, ": output size is too small: input ", input.sizes(), " upsampled by ",
              scale_factor, " with kernel (", R, " x ", S, "), stride ", stride, ", padding ", padding, " gives (",
              p.P, " x ", p.Q, ")");
  out.scale = checked_optional_channel_vector(op, "scale", scale, K, input);
  out.shift = checked_optional_channel_vector(op, "shift", shift, K, input);
  p.scale = float_data_or_null(out.scale);
  p.shift = float_data_or_null(out.shift);
  p.relu = relu;
  out.output = at::empty({p.N, K, p.P, p.Q}, input.options().memory_format(output_memory_format(input)));
  copy_strides(p.output_strides, out.output);
  p.output = out.output.numel() ? out.output.data_ptr() : nullptr;
  check_index_limits(op, resize_conv_index_limit_violation(p));
  return out;
}

at::Tensor cuda_resize_nearest_conv2d_fused(const at::Tensor& input, const at::Tensor& folded_weight,
                                            const std::optional<at::Tensor>& scale,
                                            const std::optional<at::Tensor>& shift, int64_t scale_factor,
                                            at::IntArrayRef padding, at::IntArrayRef stride,
                                            at::IntArrayRef kernel_size, bool relu, bool split_tf32) {
  const char* op = kNearestOp;
  check_dim(op, "input", input, 4);
  check_dim(op, "folded_weight", folded_weight, 6);
  check_pair(op, "kernel_size", kernel_size);
  check_pair(op, "padding", padding);
  check_pair(op, "stride", stride);
  TORCH_CHECK(scale_factor >= 1, op, ": scale_factor must be >= 1, got ", scale_factor);
  TORCH_CHECK(stride[0] > 0 && stride[1] > 0, op, ": stride must be positive, got ", stride);
  resize_conv::PhaseAxis ah, aw;
  TORCH_CHECK(resize_conv::make_phase_axis(scale_factor, kernel_size[0], padding[0], stride[0], &ah) &&
                  resize_conv::make_phase_axis(scale_factor, kernel_size[1], padding[1], stride[1], &aw),
              op, ": scale_factor / gcd(scale_factor, stride) must be <= ", resize_conv::kMaxClassesPerAxis);
  const std::vector<int64_t> expect = {ah.classes, aw.classes, folded_weight.size(2), input.size(1), ah.taps, aw.taps};
  TORCH_CHECK(folded_weight.sizes() == at::IntArrayRef(expect), op, ": folded_weight must have shape ",
              at::IntArrayRef(expect), " (the fold of scale ", scale_factor, ", kernel ", kernel_size, ", padding ",
              padding, ", stride ", stride, "), got ", folded_weight.sizes());
  const c10::cuda::CUDAGuard device_guard(input.device());
  Prepared prep = prepare(op, input, folded_weight, folded_weight.size(2), kernel_size[0], kernel_size[1], scale,
                          shift, scale_factor, padding, stride, relu);
  if (prep.output.numel() == 0) return prep.output;
  if (input.size(1) == 0) return prep.output.zero_();  // nothing to reduce: conv of nothing is 0
  const cudaStream_t stream = current_stream(input);
  ResizeConvParams& p = prep.params;
  const DType dtype = kernel_dtype(input.scalar_type());
  p.split_tf32 = split_tf32 && dtype == DType::kFloat32;
  const bool tensor_cores = tensor_cores_allowed(input, dtype, p.split_tf32);
  at::Tensor x = input, w = folded_weight;
  if (tensor_cores) {
    x = input.contiguous(at::MemoryFormat::ChannelsLast);
    w = folded_weight.permute({0, 1, 2, 4, 5, 3}).contiguous().permute({0, 1, 2, 5, 3, 4});
  }
  p.input = x.data_ptr();
  p.weight = w.data_ptr();
  copy_strides(p.input_strides, x);
  for (int d = 0; d < 6; ++d) p.weight_strides[d] = w.stride(d);
  // The launcher itself falls back to the per-class SIMT path when the tensor-core one cannot take
  // the pointers (misaligned storage offsets).
  check_launch(op, launch_resize_nearest_conv2d(p, dtype, tensor_cores, stream));
  return prep.output;
}

at::Tensor cuda_resize_bilinear_conv2d_fused(const at::Tensor& input, const at::Tensor& weight,
                                             const std::optional<at::Tensor>& scale,
                                             const std::optional<at::Tensor>& shift, int64_t scale_factor,
                                             at::IntArrayRef padding, at::IntArrayRef stride, bool align_corners,
                                             bool relu, bool split_tf32) {
  const char* op = kBilinearOp;
  check_dim(op, "input", input, 4);
  check_dim(op, "weight", weight, 4);
  TORCH_CHECK(weight.size(1) == input.size(1), op, ": weight of size ", weight.sizes(),
              " expects input with ", weight.size(1), " channels, got input ", input.sizes());
  const c10::cuda::CUDAGuard device_guard(input.device());
  Prepared prep = prepare(op, input, weight, weight.size(0), weight.size(2), weight.size(3), scale, shift,
                          scale_factor, padding, stride, relu);
  if (prep.output.numel() == 0) return prep.output;
  if (input.size(1) == 0) return prep.output.zero_();
  const cudaStream_t stream = current_stream(input);
  ResizeConvParams& p = prep.params;
  p.align_corners = align_corners;
  const DType dtype = kernel_dtype(input.scalar_type());
  p.split_tf32 = split_tf32 && dtype == DType::kFloat32;
  const bool tensor_cores = tensor_cores_allowed(input, dtype, p.split_tf32);
  at::Tensor x = input, w = weight;
  if (tensor_cores) {  // dense NHWC input, dense KRSC weight (free for a channels_last weight)
    x = input.contiguous(at::MemoryFormat::ChannelsLast);
    w = weight.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  }
  p.input = x.data_ptr();
  p.weight = w.data_ptr();
  copy_strides(p.input_strides, x);
  for (int d = 0; d < 4; ++d) p.weight_strides[d] = w.stride(d);
  check_launch(op, launch_resize_bilinear_conv2d(p, dtype, tensor_cores, stream));
  return prep.output;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def(
      "cuda_resize_nearest_conv2d_fused(Tensor input, Tensor folded_weight, Tensor? scale, Tensor? shift, "
      "int scale_factor, int[2] padding, int[2] stride, int[2] kernel_size, bool relu, bool split_tf32=False) -> Tensor");
  m.def(
      "cuda_resize_bilinear_conv2d_fused(Tensor input, Tensor weight, Tensor? scale, Tensor? shift, "
      "int scale_factor, int[2] padding, int[2] stride, bool align_corners, bool relu, bool split_tf32=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) {
  m.impl("cuda_resize_nearest_conv2d_fused", &convkernels::ops::cuda_resize_nearest_conv2d_fused);
  m.impl("cuda_resize_bilinear_conv2d_fused", &convkernels::ops::cuda_resize_bilinear_conv2d_fused);
}
