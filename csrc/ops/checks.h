// Argument validation and kernel-launch plumbing shared by the csrc/ops glue files, so every op
// reports the same problems the same way: "<op>: <argument> <what is wrong> (<shapes>)".
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <optional>

#include "common/dtype.h"
#include "ops/build_config.h"

namespace convkernels {
namespace ops {

inline void check_cuda_tensor(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is undefined");
  TORCH_CHECK(t.is_cuda(), op, ": ", name, " must be a CUDA tensor, got device ", t.device(),
              " (the cuda backend only runs on GPUs)");
}

inline void check_same_device(const char* op, const char* name, const at::Tensor& t, const at::Tensor& input) {
  TORCH_CHECK(t.device() == input.device(), op, ": ", name, " is on ", t.device(), " but input is on ",
              input.device(), "; all tensors must be on the same device");
}

inline void check_floating_dtype(const char* op, const char* name, const at::Tensor& t) {
  const auto dt = t.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kHalf || dt == at::kBFloat16, op, ": ", name,
              " must be float32, float16 or bfloat16, got ", dt);
}

inline void check_same_dtype(const char* op, const char* name, const at::Tensor& t, const at::Tensor& input) {
  TORCH_CHECK(t.scalar_type() == input.scalar_type(), op, ": ", name, " has dtype ", t.scalar_type(),
              " but input has dtype ", input.scalar_type(), "; they must match");
}

inline void check_dim(const char* op, const char* name, const at::Tensor& t, int64_t dim) {
  TORCH_CHECK(t.dim() == dim, op, ": ", name, " must be ", dim, "-D, got shape ", t.sizes());
}

// Every int[2] argument of a schema: the dispatcher does not enforce the length.
inline void check_pair(const char* op, const char* name, at::IntArrayRef values) {
  TORCH_CHECK(values.size() == 2, op, ": ", name, " must have 2 elements, got ", values);
}

// A 4-D float32/float16/bfloat16 CUDA tensor.
inline void check_floating_4d(const char* op, const char* name, const at::Tensor& t) {
  check_cuda_tensor(op, name, t);
  check_dim(op, name, t, 4);
  check_floating_dtype(op, name, t);
}

// stride, padding and dilation of a 2-D conv: two elements each, stride and dilation positive,
// padding non-negative.
inline void check_conv_geometry(const char* op, at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation) {
  check_pair(op, "stride", stride);
  check_pair(op, "padding", padding);
  check_pair(op, "dilation", dilation);
  TORCH_CHECK(stride[0] > 0 && stride[1] > 0, op, ": stride must be positive, got ", stride);
  TORCH_CHECK(dilation[0] > 0 && dilation[1] > 0, op, ": dilation must be positive, got ", dilation);
  TORCH_CHECK(padding[0] >= 0 && padding[1] >= 0, op, ": padding must be non-negative, got ", padding);
}

// A per-channel fp32 vector (scale, shift): [length] on the input's device. Returned contiguous
// because the kernels index it with unit stride.
inline at::Tensor checked_channel_vector(const char* op, const char* name, const at::Tensor& v, int64_t length,
                                         const at::Tensor& input) {
  check_cuda_tensor(op, name, v);
  check_same_device(op, name, v, input);
  TORCH_CHECK(v.scalar_type() == at::kFloat, op, ": ", name, " must be float32, got ", v.scalar_type());
  TORCH_CHECK(v.dim() == 1 && v.size(0) == length, op, ": ", name, " must have shape [", length, "], got ",
              v.sizes());
  return v.contiguous();
}

// The same for an optional vector (scale? / shift? of a schema): undefined when absent.
inline at::Tensor checked_optional_channel_vector(const char* op, const char* name, const std::optional<at::Tensor>& v,
                                                  int64_t length, const at::Tensor& input) {
  if (!v.has_value() || !v->defined()) return {};
  return checked_channel_vector(op, name, *v, length, input);
}

// Kernel pointer of a checked optional vector: nullptr means "absent" to every launcher.
inline const float* float_data_or_null(const at::Tensor& v) { return v.defined() ? v.data_ptr<float>() : nullptr; }

// Optional tensor that must match the output exactly in shape and the input in dtype/device.
inline void check_residual(const char* op, const at::Tensor& residual, const at::Tensor& input,
                           at::IntArrayRef expected_shape) {
  check_cuda_tensor(op, "residual", residual);
  check_same_device(op, "residual", residual, input);
  check_same_dtype(op, "residual", residual, input);
  TORCH_CHECK(residual.sizes() == expected_shape, op, ": residual must have the output's shape ", expected_shape,
              ", got ", residual.sizes());
}

inline DType kernel_dtype(at::ScalarType dt) {
  switch (dt) {
    case at::kHalf:
      return DType::kFloat16;
    case at::kBFloat16:
      return DType::kBFloat16;
    default:
      return DType::kFloat32;
  }
}

// The contract's rule (like torch): channels_last only when the input is channels_last
// contiguous and not also NCHW contiguous (C == 1 or H == W == 1 stay NCHW).
inline at::MemoryFormat output_memory_format(const at::Tensor& input) {
  return input.is_contiguous(at::MemoryFormat::ChannelsLast) && !input.is_contiguous()
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

// The glue allocates outputs dense in one of the two formats; the kernels need to know which.
inline bool is_channels_last_output(const at::Tensor& out) {
  return out.is_contiguous(at::MemoryFormat::ChannelsLast) && !out.is_contiguous();
}

inline void copy_strides(int64_t (&dst)[4], const at::Tensor& t) {
  for (int d = 0; d < 4; ++d) dst[d] = t.stride(d);
}

inline void check_index_limits(const char* op, const char* violation) {
  TORCH_CHECK(violation == nullptr || violation[0] == '\0', op, ": input too large for the cuda backend: ",
              violation);
}

// Kernels run on the caller's current stream of the tensor's device, as aten ops do.
inline cudaStream_t current_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.get_device()).stream();
}

inline int device_compute_major(c10::DeviceIndex device) {
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return major;
}

// Turns a launcher's status into a torch error; an arch mismatch gets the rebuild command.
inline void check_launch(const char* op, cudaError_t err) {
  if (err == cudaSuccess) return;
  (void)cudaGetLastError();
  if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction) {
    int device = 0, major = 0, minor = 0;
    (void)cudaGetDevice(&device);
    (void)cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    (void)cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    TORCH_CHECK(false, op, ": the convkernels CUDA extension has no kernels for this GPU (sm_", major, minor,
                "); it was built for ", CONVKERNELS_ARCHS_STRING, ". Rebuild it with: TORCH_CUDA_ARCH_LIST=", major,
                ".", minor, " pip install --no-build-isolation --force-reinstall .  (CUDA error: ",
                cudaGetErrorString(err), ")");
  }
  TORCH_CHECK(false, op, ": CUDA kernel launch failed: ", cudaGetErrorString(err));
}

}  // namespace ops
}  // namespace convkernels
