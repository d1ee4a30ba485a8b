// Torch glue for the Winograd primitives:
//   cuda_winograd_filter_transform(weight [K, C, 3, 3], tile) -> U [alpha^2, K, C]
//   cuda_winograd_conv2d_fused(input, weight, U, scale?, shift?, residual?, padding, tile, relu,
//                              split_tf32=False)
// `weight` of the fused op is not read by the kernel: it is there so that the backward formula
// (convkernels/_autograd.py) sends gradients to the original weight, never to U.
// Both kernels read every tensor through its strides (no layout copies); the fused kernel keeps
// the transformed input on chip, so the only workspace is U itself (cached by the Python layer).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>

#include "ops/checks.h"
#include "ops/tf32_flag.h"
#include "winograd/winograd.h"

namespace convkernels {
namespace ops {
namespace {

constexpr const char* kFilterOp = "convkernels.cuda_winograd_filter_transform";
constexpr const char* kConvOp = "convkernels.cuda_winograd_conv2d_fused";

void check_tile(const char* op, int64_t tile) {
  TORCH_CHECK(tile == 2 || tile == 4, op, ": tile must be 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), got ", tile);
}

void check_3x3_weight(const char* op, const at::Tensor& weight) {
  check_floating_4d(op, "weight", weight);
  TORCH_CHECK(weight.size(2) == 3 && weight.size(3) == 3, op, ": Winograd F(mxm,3x3) needs a 3x3 kernel, got weight ",
              weight.sizes());
}

at::Tensor cuda_winograd_filter_transform(const at::Tensor& weight, int64_t tile) {
  check_3x3_weight(kFilterOp, weight);
  check_tile(kFilterOp, tile);
  const int64_t alpha = tile + 2, K = weight.size(0), C = weight.size(1);
  const c10::cuda::CUDAGuard device_guard(weight.device());
  at::Tensor out = at::empty({alpha * alpha, K, C}, weight.options());
  if (out.numel() == 0) return out;
  WinogradFilterParams p;
  p.weight = weight.data_ptr();
  p.transformed = out.data_ptr();
  p.K = K, p.C = C;
  copy_strides(p.weight_strides, weight);
  const cudaStream_t stream = current_stream(weight);
  check_launch(kFilterOp, launch_winograd_filter_transform(p, static_cast<int>(tile), kernel_dtype(weight.scalar_type()),
                                                           stream));
  return out;
}

at::Tensor cuda_winograd_conv2d_fused(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& transformed,
                                      const std::optional<at::Tensor>& scale, const std::optional<at::Tensor>& shift,
                                      const std::optional<at::Tensor>& residual, at::IntArrayRef padding, int64_t tile,
                                      bool relu, bool split_tf32) {
  check_floating_4d(kConvOp, "input", input);
  check_3x3_weight(kConvOp, weight);
  check_same_device(kConvOp, "weight", weight, input);
  check_same_dtype(kConvOp, "weight", weight, input);
  check_tile(kConvOp, tile);
  check_cuda_tensor(kConvOp, "transformed_weight", transformed);
  check_same_device(kConvOp, "transformed_weight", transformed, input);
  check_same_dtype(kConvOp, "transformed_weight", transformed, input);
  TORCH_CHECK(padding.size() == 2 && padding[0] >= 0 && padding[1] >= 0, kConvOp,
              ": padding must be 2 non-negative values, got ", padding);
  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t K = weight.size(0), alpha = tile + 2;
  TORCH_CHECK(weight.size(1) == C, kConvOp, ": weight ", weight.sizes(), " does not match input ", input.sizes(),
              " (groups must be 1)");
  TORCH_CHECK(transformed.dim() == 3 && transformed.size(0) == alpha * alpha && transformed.size(1) == K &&
                  transformed.size(2) == C,
              kConvOp, ": transformed_weight must have shape [", alpha * alpha, ", ", K, ", ", C, "], got ",
              transformed.sizes());
  const int64_t P = H + 2 * padding[0] - 2, Q = W + 2 * padding[1] - 2;
  TORCH_CHECK(P > 0 && Q > 0, kConvOp, ": output size is too small: input ", input.sizes(), " with padding ", padding);

  const at::Tensor scale_vec = checked_optional_channel_vector(kConvOp, "scale", scale, K, input);
  const at::Tensor shift_vec = checked_optional_channel_vector(kConvOp, "shift", shift, K, input);
  const bool has_residual = residual.has_value() && residual->defined();
  if (has_residual) check_residual(kConvOp, *residual, input, {N, K, P, Q});

  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty({N, K, P, Q}, input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;
  const at::Tensor u = transformed.contiguous();

  WinogradConvParams p;
  p.input = input.data_ptr();
  p.transformed = u.data_ptr();
  p.scale = float_data_or_null(scale_vec);
  p.shift = float_data_or_null(shift_vec);
  p.residual = has_residual ? residual->data_ptr() : nullptr;
  p.output = output.data_ptr();
  p.N = N, p.C = C, p.H = H, p.W = W, p.K = K, p.P = P, p.Q = Q;
  p.pad_h = padding[0], p.pad_w = padding[1];
  copy_strides(p.input_strides, input);
  if (has_residual) copy_strides(p.residual_strides, *residual);
  copy_strides(p.output_strides, output);
  p.relu = relu;
  const DType dtype = kernel_dtype(input.scalar_type());
  // fp32 follows F.conv2d's rule: TF32 tensor-core math exactly when cuDNN convolutions may use
  // it; otherwise IEEE fp32 (SIMT). split_tf32 (convkernels' "tf32x3") asks for 3xTF32 tensor-core
  // math instead, whatever the flag says (SIMT fp32 below sm_80). The cached U is fp32 in every
  // case (rounded or split only as an mma operand).
  p.allow_tf32 = dtype == DType::kFloat32 && cudnn_conv_allows_tf32();
  p.split_tf32 = dtype == DType::kFloat32 && split_tf32;
  check_index_limits(kConvOp, winograd_index_limit_violation(p, static_cast<int>(tile)));
  TORCH_CHECK(dtype == DType::kFloat32 || device_compute_major(input.get_device()) >= 8, kConvOp,
              ": float16/bfloat16 Winograd runs on tensor cores (mma.sync) and needs sm_80 or newer");
  const cudaStream_t stream = current_stream(input);
  check_launch(kConvOp, launch_winograd_conv2d(p, static_cast<int>(tile), dtype, stream));
  return output;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def("cuda_winograd_filter_transform(Tensor weight, int tile) -> Tensor");
  m.def(
      "cuda_winograd_conv2d_fused(Tensor input, Tensor weight, Tensor transformed_weight, Tensor? scale, "
      "Tensor? shift, Tensor? residual, int[2] padding, int tile, bool relu, bool split_tf32=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) {
  m.impl("cuda_winograd_filter_transform", &convkernels::ops::cuda_winograd_filter_transform);
  m.impl("cuda_winograd_conv2d_fused", &convkernels::ops::cuda_winograd_conv2d_fused);
}
