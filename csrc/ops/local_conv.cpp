// Torch glue for cuda_local_conv2d: validation, weight/bias layout, launch on the current stream.
//
// The kernel reads the input through its strides (no copy for channels_last, sliced or
// misaligned inputs) and writes the output in the input's memory format. The weight
// [P, Q, K, C, R, S] is used as dense [P*Q, K, C*R*S] (.contiguous(): free for the usual
// parameter, a copy for an expanded or permuted one) and the bias [K, P, Q] as dense.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>

#include "common/index_math.h"
#include "local_conv/local_conv.h"
#include "ops/checks.h"

namespace convkernels {
namespace ops {
namespace {

constexpr const char* kOp = "convkernels.cuda_local_conv2d";

at::Tensor cuda_local_conv2d(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  check_cuda_tensor(kOp, "input", input);
  check_cuda_tensor(kOp, "weight", weight);
  check_same_device(kOp, "weight", weight, input);
  check_dim(kOp, "input", input, 4);
  check_dim(kOp, "weight", weight, 6);
  check_floating_dtype(kOp, "input", input);
  check_same_dtype(kOp, "weight", weight, input);
  check_conv_geometry(kOp, stride, padding, dilation);
  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t P = weight.size(0), Q = weight.size(1), K = weight.size(2);
  const int64_t R = weight.size(4), S = weight.size(5);
  TORCH_CHECK(weight.size(3) == C, kOp, ": weight of size ", weight.sizes(), " expects ", weight.size(3),
              " input channels, but input ", input.sizes(), " has ", C);
  TORCH_CHECK(R > 0 && S > 0, kOp, ": kernel size must be positive, got weight of size ", weight.sizes());
  const int64_t P_in = conv_output_size(H, R, stride[0], padding[0], dilation[0]);
  const int64_t Q_in = conv_output_size(W, S, stride[1], padding[1], dilation[1]);
  TORCH_CHECK(P_in == P && Q_in == Q, kOp, ": weight ", weight.sizes(), " is for a ", P, " x ", Q,
              " output, but input ", input.sizes(), " with stride ", stride, ", padding ", padding, ", dilation ",
              dilation, " gives ", P_in, " x ", Q_in);
  at::Tensor bias_dense;
  if (bias.has_value() && bias->defined()) {
    check_cuda_tensor(kOp, "bias", *bias);
    check_same_device(kOp, "bias", *bias, input);
    check_same_dtype(kOp, "bias", *bias, input);
    TORCH_CHECK(bias->dim() == 3 && bias->size(0) == K && bias->size(1) == P && bias->size(2) == Q, kOp,
                ": bias must have shape [", K, ", ", P, ", ", Q, "], got ", bias->sizes());
    bias_dense = bias->contiguous();
  }

  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty({N, K, P, Q}, input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;
  const at::Tensor weight_dense = weight.contiguous();
  LocalConv2dParams p;
  p.input = input.data_ptr();
  p.weight = weight_dense.data_ptr();
  p.bias = bias_dense.defined() ? bias_dense.data_ptr() : nullptr;
  p.output = output.data_ptr();
  p.N = N, p.C = C, p.H = H, p.W = W, p.K = K, p.R = R, p.S = S, p.P = P, p.Q = Q;
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dil_h = dilation[0], p.dil_w = dilation[1];
  copy_strides(p.input_strides, input);
  copy_strides(p.output_strides, output);
  const cudaStream_t stream = current_stream(input);
  check_launch(kOp, launch_local_conv2d(p, kernel_dtype(input.scalar_type()), stream));
  return output;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def(
      "cuda_local_conv2d(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, "
      "int[2] dilation) -> Tensor");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) { m.impl("cuda_local_conv2d", &convkernels::ops::cuda_local_conv2d); }
