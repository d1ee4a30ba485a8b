// Public interface of the sm_90a (Hopper) implicit-GEMM convolution: CUTLASS 3.x's conv fprop
// (wgmma fed by TMA im2col loads, warp-specialized producer/consumer pipeline) with this
// library's epilogue fused through CUTLASS's epilogue-visitor tree:
//
//   out[n,p,q,k] = act(acc * scale[k] + shift[k] + residual[n,p,q,k]),  act = ReLU or identity
//
// Pure CUDA runtime API, like conv/conv.h. Compiled only for sm_90a (setup.py builds these
// files when the nvidia-cutlass headers are installed and defines CONVKERNELS_HAS_SM90_CONV
// for the glue); the SASS runs on compute capability 9.0 devices only.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "common/dtype.h"
#include "conv/conv.h"
#include "conv/sm90/conv_sm90_setup.h"

namespace convkernels {

// One definition per element type, each in its own translation unit (conv_sm90_f16.cu,
// conv_sm90_bf16.cu) so the build compiles them in parallel.
template <DType D>
size_t conv2d_sm90_workspace_size_typed(const Conv2dParams& p);
template <DType D>
cudaError_t launch_conv2d_sm90_typed(const Conv2dParams& p, void* workspace, size_t workspace_bytes,
                                     cudaStream_t stream);
template <>
size_t conv2d_sm90_workspace_size_typed<DType::kFloat16>(const Conv2dParams& p);
template <>
size_t conv2d_sm90_workspace_size_typed<DType::kBFloat16>(const Conv2dParams& p);
template <>
cudaError_t launch_conv2d_sm90_typed<DType::kFloat16>(const Conv2dParams& p, void* workspace,
                                                      size_t workspace_bytes, cudaStream_t stream);
template <>
cudaError_t launch_conv2d_sm90_typed<DType::kBFloat16>(const Conv2dParams& p, void* workspace,
                                                       size_t workspace_bytes, cudaStream_t stream);

// Device workspace the launch needs (CUTLASS's tile scheduler; 0 for this kernel's schedule,
// queried rather than assumed). Requires conv2d_sm90_supported(p, dtype).
inline size_t conv2d_sm90_workspace_size(const Conv2dParams& p, DType dtype) {
  if (dtype == DType::kFloat16) return conv2d_sm90_workspace_size_typed<DType::kFloat16>(p);
  if (dtype == DType::kBFloat16) return conv2d_sm90_workspace_size_typed<DType::kBFloat16>(p);
  return 0;
}

// Launches on `stream`. Requires conv2d_sm90_supported(p, dtype) (else cudaErrorInvalidValue)
// and a device of compute capability 9.0; `workspace` holds at least
// conv2d_sm90_workspace_size bytes (null when that is 0). Returns cudaErrorNotSupported, having
// launched nothing, when CUTLASS's own can_implement or its TMA descriptor setup refuses.
inline cudaError_t launch_conv2d_sm90(const Conv2dParams& p, DType dtype, void* workspace,
                                      size_t workspace_bytes, cudaStream_t stream) {
  if (dtype == DType::kFloat16) return launch_conv2d_sm90_typed<DType::kFloat16>(p, workspace, workspace_bytes, stream);
  if (dtype == DType::kBFloat16) return launch_conv2d_sm90_typed<DType::kBFloat16>(p, workspace, workspace_bytes, stream);
  return cudaErrorInvalidValue;
}

using conv::sm90::conv2d_sm90_supported;

}  // namespace convkernels
