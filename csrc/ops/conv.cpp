// Torch glue for cuda_conv2d_fused: validation, layout preparation, kernel choice, launch.
//
// Kernel choice (first match wins):
//  0. groups > 1: the depthwise family's grouped / depthwise kernels (run_conv2d_grouped,
//     csrc/ops/depthwise.cpp), any layout.
//  1. Hopper (launch_conv2d_sm90, csrc/kernels/conv/sm90): the CUTLASS 3.x implicit GEMM on
//     wgmma + TMA, when the extension was built with it (CONVKERNELS_HAS_SM90_CONV: the
//     nvidia-cutlass headers were installed and the arch list had 9.0), the GPU is compute
//     capability 9.x, groups == 1, fp16/bf16, and the output is channels_last (the output
//     follows the input: a channels_last input; NCHW inputs go to (2)), with everything
//     conv2d_sm90_supported asks: C and K multiples of 8, dense NHWC input (copied to it like
//     (2) does), dense KRSC weight, dense NHWC residual, 16-byte aligned base pointers, and the
//     TMA im2col limits on padding, stride and dilation. A problem CUTLASS's own can_implement
//     refuses after that (cudaErrorNotSupported, nothing launched) goes to (2), and so does
//     every problem while CONVKERNELS_DISABLE_SM90_CONV=1.
//     Compiled and SASS-checked only; not yet run on a GPU.
//  2. tensor cores (launch_conv2d_implicit_gemm_tc): groups == 1, non-empty input, GPU sm_80+,
//     and fp16/bf16 with C % 8 == 0, or fp32 with C % 4 == 0 when TF32 is allowed for cuDNN
//     convolutions (the flag F.conv2d follows: torch.backends.cudnn.allow_tf32, or
//     torch.backends.cudnn.conv.fp32_precision on newer torch) or split_tf32 is asked for.
//     fp32 then runs with 3xTF32 math when split_tf32 (convkernels' "tf32x3" mode, fp32-level
//     error, whatever the flag says), else with TF32 math, as cuDNN would. The input is used
//     as dense NHWC (copied with .contiguous(channels_last) when it is not already) and the
//     weight as dense KRSC (weight.permute(0, 2, 3, 1).contiguous(), free for a channels_last
//     weight). Both base pointers must be 16-byte aligned: a tensor that is already dense but
//     starts at a misaligned storage offset is not copied, it goes to (3). Output and
//     residual are used as they are (any strides): the kernel writes NCHW or NHWC directly,
//     so an NCHW input gets an NCHW output without a transpose pass.
//  3. SIMT implicit GEMM (launch_conv2d_implicit_gemm_generic): everything else, reading
//     every tensor through its strides (no copies); fp32 at full precision (so a split_tf32
//     call that the tensor-core kernel cannot take is at least as accurate as asked).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstdlib>
#include <optional>
#include <string_view>

#include "common/index_math.h"
#include "conv/conv.h"
#include "ops/checks.h"
#include "ops/depthwise.h"
#include "ops/tf32_flag.h"
#if CONVKERNELS_HAS_SM90_CONV
#include "conv/sm90/conv_sm90.h"
#endif

namespace convkernels {
namespace ops {
namespace {

constexpr const char* kOp = "convkernels.cuda_conv2d_fused";

bool aligned16(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

// Would tensor t still be misaligned after .contiguous(format)? Only if no copy happens.
bool misaligned_after_contiguous(const at::Tensor& t, at::MemoryFormat format) {
  return t.is_contiguous(format) && !aligned16(t);
}

#if CONVKERNELS_HAS_SM90_CONV
// CONVKERNELS_DISABLE_SM90_CONV=1 sends what (1) would take to (2) instead, so one process can
// compare the two kernels (and a GPU session can set aside a faulty sm_90a path without a
// rebuild). Read at each call: getenv is far cheaper than the launch beside it, and
// os.environ / monkeypatch.setenv apply at once.
bool sm90_conv_disabled() {
  const char* value = std::getenv("CONVKERNELS_DISABLE_SM90_CONV");
  return value != nullptr && std::string_view(value) == "1";
}
#endif

at::Tensor cuda_conv2d_fused(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& scale,
                             const std::optional<at::Tensor>& shift, const std::optional<at::Tensor>& residual,
                             at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                             bool relu, bool split_tf32) {
  check_cuda_tensor(kOp, "input", input);
  check_cuda_tensor(kOp, "weight", weight);
  check_same_device(kOp, "weight", weight, input);
  check_dim(kOp, "input", input, 4);
  check_dim(kOp, "weight", weight, 4);
  check_floating_dtype(kOp, "input", input);
  check_same_dtype(kOp, "weight", weight, input);
  check_conv_geometry(kOp, stride, padding, dilation);
  TORCH_CHECK(groups > 0, kOp, ": groups must be positive, got ", groups);

  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t K = weight.size(0), R = weight.size(2), S = weight.size(3);
  TORCH_CHECK(weight.size(1) * groups == C, kOp, ": Given groups=", groups, ", weight of size ", weight.sizes(),
              ", expected input", input.sizes(), " to have ", weight.size(1) * groups, " channels, but got ", C,
              " channels instead");
  TORCH_CHECK(R > 0 && S > 0, kOp, ": kernel size must be positive, got weight of size ", weight.sizes());
  const int64_t P = conv_output_size(H, R, stride[0], padding[0], dilation[0]);
  const int64_t Q = conv_output_size(W, S, stride[1], padding[1], dilation[1]);
  TORCH_CHECK(P > 0 && Q > 0, kOp, ": output size is too small: input ", input.sizes(), " with kernel (", R, " x ", S,
              "), stride ", stride, ", padding ", padding, ", dilation ", dilation, " gives output (", P, " x ", Q, ")");

  const at::Tensor scale_vec = checked_optional_channel_vector(kOp, "scale", scale, K, input);
  const at::Tensor shift_vec = checked_optional_channel_vector(kOp, "shift", shift, K, input);
  const bool has_residual = residual.has_value() && residual->defined();
  if (has_residual) check_residual(kOp, *residual, input, {N, K, P, Q});

  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty({N, K, P, Q}, input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;
  const cudaStream_t stream = current_stream(input);

  Conv2dParams p;
  p.scale = float_data_or_null(scale_vec);
  p.shift = float_data_or_null(shift_vec);
  p.residual = has_residual ? residual->data_ptr() : nullptr;
  p.output = output.data_ptr();
  p.N = N, p.C = C, p.H = H, p.W = W, p.K = K, p.R = R, p.S = S, p.P = P, p.Q = Q;
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dil_h = dilation[0], p.dil_w = dilation[1];
  if (has_residual) copy_strides(p.residual_strides, *residual);
  copy_strides(p.output_strides, output);
  p.relu = relu;
  check_index_limits(kOp, conv2d_index_limit_violation(p));
  const DType dtype = kernel_dtype(input.scalar_type());

  if (groups != 1) {  // (0)
    run_conv2d_grouped(kOp, p, input, weight, groups, dtype, stream);
    return output;
  }

  // C must fill whole 16-byte chunks: 8 fp16/bf16 or 4 fp32 values.
  const int64_t chunk_elems = 16 / dtype_size(dtype);
  const bool fp32_on_tensor_cores = split_tf32 || cudnn_conv_allows_tf32();
  const bool tc_candidate = (dtype != DType::kFloat32 || fp32_on_tensor_cores) && C % chunk_elems == 0 &&
                            input.numel() > 0 &&
                            device_compute_major(input.get_device()) >= 8 &&
                            !misaligned_after_contiguous(input, at::MemoryFormat::ChannelsLast) &&
                            !misaligned_after_contiguous(weight.permute({0, 2, 3, 1}), at::MemoryFormat::Contiguous);
  if (tc_candidate) {
    const at::Tensor input_nhwc = input.contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor weight_krsc = weight.permute({0, 2, 3, 1}).contiguous();  // [K, R, S, C]
    Conv2dParams tc = p;
    tc.input = input_nhwc.data_ptr();
    tc.weight = weight_krsc.data_ptr();
    copy_strides(tc.input_strides, input_nhwc);
    copy_strides(tc.weight_strides, weight_krsc.permute({0, 3, 1, 2}));  // logical [K, C, R, S] strides
#if CONVKERNELS_HAS_SM90_CONV
    if (output_memory_format(input) == at::MemoryFormat::ChannelsLast &&
        device_compute_major(input.get_device()) == 9 && conv2d_sm90_supported(tc, dtype) &&
        !sm90_conv_disabled()) {  // (1)
      const size_t workspace_bytes = conv2d_sm90_workspace_size(tc, dtype);
      at::Tensor workspace;
      if (workspace_bytes > 0) {
        workspace = at::empty({static_cast<int64_t>(workspace_bytes)}, input.options().dtype(at::kByte));
      }
      const cudaError_t err = launch_conv2d_sm90(tc, dtype, workspace_bytes > 0 ? workspace.data_ptr() : nullptr,
                                                 workspace_bytes, stream);
      if (err != cudaErrorNotSupported) {
        check_launch(kOp, err);
        return output;
      }
    }
#endif
    if (conv2d_tc_supported(tc, dtype)) {  // (2)
      check_launch(kOp, launch_conv2d_implicit_gemm_tc(tc, dtype, stream, split_tf32));
      return output;  // input_nhwc / weight_krsc are freed stream-ordered by the caching allocator
    }
  }

  p.input = input.data_ptr();  // (3)
  p.weight = weight.data_ptr();
  copy_strides(p.input_strides, input);
  copy_strides(p.weight_strides, weight);
  check_launch(kOp, launch_conv2d_implicit_gemm_generic(p, dtype, stream));
  return output;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def(
      "cuda_conv2d_fused(Tensor input, Tensor weight, Tensor? scale, Tensor? shift, Tensor? residual, "
      "int[2] stride, int[2] padding, int[2] dilation, int groups, bool relu, bool split_tf32=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) { m.impl("cuda_conv2d_fused", &convkernels::ops::cuda_conv2d_fused); }
