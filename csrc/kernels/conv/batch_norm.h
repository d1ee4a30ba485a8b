// Public interface of the batch-norm building blocks (training-mode BN = moments + normalize).
// Pure CUDA runtime API; the torch glue is csrc/ops/conv_batch_norm.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "common/dtype.h"

namespace convkernels {

// Per-channel mean and biased variance of a [N, C, H, W] tensor (any element strides) over
// N, H, W. Welford within a thread, Chan merging across threads, blocks and slices.
struct ChannelMomentsParams {
  const void* input = nullptr;
  float* mean = nullptr;  // [C]
  float* var = nullptr;   // [C]
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t strides[4] = {0, 0, 0, 0};  // n, c, h, w
};

// Empty string when supported; otherwise why (N*H*W and C must be < 2^31).
const char* channel_moments_limit_violation(const ChannelMomentsParams& p);

// Floats of scratch the glue must allocate (and pass to the launcher) for these params on the
// current device; the launcher splits the reduction into the same number of slices.
int64_t channel_moments_workspace_floats(const ChannelMomentsParams& p);

// Requires N*H*W > 0 and C > 0 (the glue handles the empty cases without a launch).
cudaError_t launch_channel_moments(const ChannelMomentsParams& p, DType dtype, float* workspace,
                                   cudaStream_t stream);

// out = act(in * scale[c] + shift[c] + residual), fp32 math, one rounding to the output dtype.
struct ScaleShiftParams {
  const void* input = nullptr;
  const float* scale = nullptr;  // [C]
  const float* shift = nullptr;  // [C]
  const void* residual = nullptr;  // same shape and dtype as input, or null
  void* output = nullptr;
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t input_strides[4] = {0, 0, 0, 0};
  int64_t residual_strides[4] = {0, 0, 0, 0};
  int64_t output_strides[4] = {0, 0, 0, 0};
  bool relu = false;
};

// Empty string when supported; otherwise why (element counts must fit 32-bit indices).
const char* scale_shift_relu_limit_violation(const ScaleShiftParams& p, DType dtype);

cudaError_t launch_scale_shift_relu(const ScaleShiftParams& p, DType dtype, cudaStream_t stream);

}  // namespace convkernels
