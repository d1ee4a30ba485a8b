// Torch glue for the training-mode batch-norm primitives: cuda_channel_moments and
// cuda_scale_shift_relu. Both read their input through its strides (no copies).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <limits>
#include <optional>
#include <tuple>

#include "conv/batch_norm.h"
#include "ops/checks.h"

namespace convkernels {
namespace ops {
namespace {

std::tuple<at::Tensor, at::Tensor> cuda_channel_moments(const at::Tensor& input) {
  constexpr const char* kOp = "convkernels.cuda_channel_moments";
  check_floating_4d(kOp, "input", input);

  const c10::cuda::CUDAGuard device_guard(input.device());
  const int64_t C = input.size(1);
  const auto float_options = input.options().dtype(at::kFloat).memory_format(at::MemoryFormat::Contiguous);
  at::Tensor mean = at::empty({C}, float_options);
  at::Tensor var = at::empty({C}, float_options);
  if (C == 0) return {mean, var};
  if (input.size(0) * input.size(2) * input.size(3) == 0) {
    // Moments of an empty set, as torch.var_mean reports them.
    mean.fill_(std::numeric_limits<float>::quiet_NaN());
    var.fill_(std::numeric_limits<float>::quiet_NaN());
    return {mean, var};
  }

  ChannelMomentsParams p;
  p.input = input.data_ptr();
  p.mean = mean.data_ptr<float>();
  p.var = var.data_ptr<float>();
  p.N = input.size(0), p.C = C, p.H = input.size(2), p.W = input.size(3);
  copy_strides(p.strides, input);
  check_index_limits(kOp, channel_moments_limit_violation(p));
  at::Tensor workspace = at::empty({channel_moments_workspace_floats(p)}, float_options);
  const cudaStream_t stream = current_stream(input);
  check_launch(kOp, launch_channel_moments(p, kernel_dtype(input.scalar_type()), workspace.data_ptr<float>(), stream));
  return {mean, var};
}

at::Tensor cuda_scale_shift_relu(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& shift,
                                 const std::optional<at::Tensor>& residual, bool relu) {
  constexpr const char* kOp = "convkernels.cuda_scale_shift_relu";
  check_floating_4d(kOp, "input", input);
  const int64_t C = input.size(1);
  const at::Tensor scale_vec = checked_channel_vector(kOp, "scale", scale, C, input);
  const at::Tensor shift_vec = checked_channel_vector(kOp, "shift", shift, C, input);
  const bool has_residual = residual.has_value() && residual->defined();
  if (has_residual) check_residual(kOp, *residual, input, input.sizes());

  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output = at::empty(input.sizes(), input.options().memory_format(output_memory_format(input)));
  if (output.numel() == 0) return output;

  ScaleShiftParams p;
  p.input = input.data_ptr();
  p.scale = scale_vec.data_ptr<float>();
  p.shift = shift_vec.data_ptr<float>();
  p.residual = has_residual ? residual->data_ptr() : nullptr;
  p.output = output.data_ptr();
  p.N = input.size(0), p.C = C, p.H = input.size(2), p.W = input.size(3);
  copy_strides(p.input_strides, input);
  if (has_residual) copy_strides(p.residual_strides, *residual);
  copy_strides(p.output_strides, output);
  p.relu = relu;
  const DType dtype = kernel_dtype(input.scalar_type());
  check_index_limits(kOp, scale_shift_relu_limit_violation(p, dtype));
  const cudaStream_t stream = current_stream(input);
  check_launch(kOp, launch_scale_shift_relu(p, dtype, stream));
  return output;
}

}  // namespace
}  // namespace ops
}  // namespace convkernels

TORCH_LIBRARY_FRAGMENT(convkernels, m) {
  m.def("cuda_channel_moments(Tensor input) -> (Tensor, Tensor)");
  m.def("cuda_scale_shift_relu(Tensor input, Tensor scale, Tensor shift, Tensor? residual, bool relu) -> Tensor");
}

TORCH_LIBRARY_IMPL(convkernels, CUDA, m) {
  m.impl("cuda_channel_moments", &convkernels::ops::cuda_channel_moments);
  m.impl("cuda_scale_shift_relu", &convkernels::ops::cuda_scale_shift_relu);
}
