// Public interface of the grouped and depthwise convolution kernels. Pure CUDA runtime API: the
// torch glue (csrc/ops/depthwise*.cpp; the forward is reached from csrc/ops/conv.cpp when
// groups > 1) fills the params.
//
// Grouped convolution with G groups, Cg = C/G input and Kg = K/G output channels per group:
//   out[n,k,p,q] = act(sum_{c<Cg,r,s} in[n, (k/Kg)*Cg + c, h, w] * wt[k,c,r,s] * scale[k] + shift[k] + res)
// Depthwise is the case G == C (Cg == 1, Kg = channel multiplier).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"
#include "conv/conv.h"

namespace convkernels {

// Empty string when the shape fits the kernels' 32-bit element indices (offsets are 64-bit);
// otherwise a sentence naming the extent that is too large.
const char* grouped_conv2d_index_limit_violation(const Conv2dParams& p, int64_t groups);

// Direct grouped convolution for any groups >= 1 (depthwise included), any strides of every
// tensor, fp32 / fp16 / bf16 with fp32 accumulation and the fused epilogue of Conv2dParams.
// Kernel sizes 3, 5 and 7 (square) are compile-time specialized; others run a generic loop.
cudaError_t launch_conv2d_grouped_direct(const Conv2dParams& p, int64_t groups, DType dtype, cudaStream_t stream);

// Grouped convolution on tensor cores (fp16/bf16, sm_80+): dense NHWC input (4-byte aligned),
// `p.weight` pointing at a dense [K, R, S, Cg] weight (weight_strides not read), Cg even and >= 4,
// Kg a multiple of 8 or Kg in {2, 4} (an mma n8 block then spans whole groups). Any output strides.
bool conv2d_grouped_tc_supported(const Conv2dParams& p, int64_t groups, DType dtype);
cudaError_t launch_conv2d_grouped_tc(const Conv2dParams& p, int64_t groups, DType dtype, cudaStream_t stream);

// Depthwise forward specialized for dense channels_last input/output (and residual), multiplier 1,
// C % 4 == 0, input/weight/output/residual aligned to one 4-channel vector (16 B fp32, 8 B
// fp16/bf16). `p.weight` must point at the weight laid out as a dense [R, S, C] array (the
// weight_strides field is not read). 4 channels per thread, one vector load per tap.
bool depthwise_nhwc_vec_supported(const Conv2dParams& p, int64_t groups, DType dtype);
cudaError_t launch_depthwise_conv2d_nhwc_vec(const Conv2dParams& p, DType dtype, cudaStream_t stream);

// Fused depthwise-separable convolution (csrc/kernels/depthwise/separable_fused.cu): depthwise R x S
// (multiplier CM / C) -> mid epilogue -> pointwise 1x1 on tensor cores -> epilogue, the middle
// tensor kept in shared memory. fp16 / bf16 on sm_80+, at most kSeparableMaxOutputTiles * 64
// output channels (each 64-channel tile recomputes the depthwise).
constexpr int64_t kSeparableMaxOutputTiles = 4;
struct SeparableParams {
  const void* input = nullptr;      // [N, C, H, W] any strides
  const void* dw_weight = nullptr;  // [CM, 1, R, S] any strides
  const void* pw_weight = nullptr;  // [K, CM, 1, 1] any strides (dims 0 and 1 used)
  const float* mid_scale = nullptr;
  const float* mid_shift = nullptr;  // [CM] fp32 or null
  const float* scale = nullptr;
  const float* shift = nullptr;  // [K] fp32 or null
  void* output = nullptr;        // [N, K, P, Q] any strides
  int64_t N = 0, C = 0, H = 0, W = 0, CM = 0, K = 0, R = 0, S = 0, P = 0, Q = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t input_strides[4] = {0, 0, 0, 0};
  int64_t dw_strides[4] = {0, 0, 0, 0};
  int64_t pw_strides[4] = {0, 0, 0, 0};
  int64_t output_strides[4] = {0, 0, 0, 0};
  bool mid_relu = false, relu = false;
};
// Empty string when the fused kernel can run p in dtype on the current device, else why not.
const char* separable_fused_unsupported(const SeparableParams& p, DType dtype);
cudaError_t launch_separable_conv2d_fused(const SeparableParams& p, DType dtype, cudaStream_t stream);

// Depthwise backward (groups == C, weight [K, 1, R, S], K = multiplier * C).
struct DepthwiseBackwardParams {
  const void* grad_output = nullptr;  // [N, K, P, Q] logical, element strides below
  const void* input = nullptr;        // [N, C, H, W] (weight gradient only)
  const void* weight = nullptr;       // [K, 1, R, S] (input gradient only)
  void* grad_input = nullptr;         // [N, C, H, W], any strides (input gradient)
  void* grad_weight = nullptr;        // [K, 1, R, S] dense (weight gradient)
  float* workspace = nullptr;         // depthwise_weight_grad_workspace_floats() floats
  int64_t N = 0, C = 0, H = 0, W = 0, K = 0, R = 0, S = 0, P = 0, Q = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t grad_output_strides[4] = {0, 0, 0, 0};
  int64_t input_strides[4] = {0, 0, 0, 0};
  int64_t weight_strides[4] = {0, 0, 0, 0};
  int64_t grad_input_strides[4] = {0, 0, 0, 0};
};

const char* depthwise_backward_index_limit_violation(const DepthwiseBackwardParams& p);

// grad_input[n,c,h,w] = sum_{m,r,s} grad_output[n, c*mult+m, p, q] * weight[c*mult+m, 0, r, s] over the
// (p, q) whose window covers (h, w): a gather, one write per element, no atomics.
cudaError_t launch_depthwise_backward_input(const DepthwiseBackwardParams& p, DType dtype, cudaStream_t stream);

// Number of fp32 partial sums the weight-gradient reduction needs: chunks(N*P*Q) * K * R * S.
// The chunking depends on the shape only, so results are bitwise reproducible on any GPU.
int64_t depthwise_weight_grad_workspace_floats(const DepthwiseBackwardParams& p);

// grad_weight[k,0,r,s] = sum_{n,p,q} grad_output[n,k,p,q] * input[n, k/mult, h, w], as a deterministic
// two-stage reduction: per (channel, chunk of output pixels) partial sums in a fixed tree order into
// the workspace, then one pass summing the chunks in order. No atomics.
cudaError_t launch_depthwise_backward_weight(const DepthwiseBackwardParams& p, DType dtype, cudaStream_t stream);

}  // namespace convkernels
