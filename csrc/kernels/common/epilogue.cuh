// The fused epilogue of the contract: out = act(acc * scale[k] + shift[k] + residual), in fp32.
#pragma once

#include <cuda_runtime.h>

namespace convkernels {

// ReLU that lets NaN through, like torch.relu (fmaxf(NaN, 0) would return 0).
__device__ __forceinline__ float relu_keep_nan(float v) { return v < 0.f ? 0.f : v; }

// Per-output-channel affine part; a null scale means 1, a null shift means 0.
struct ChannelAffine {
  float scale;
  float shift;
  static __device__ __forceinline__ ChannelAffine load(const float* scale, const float* shift, int channel) {
    ChannelAffine a;
    a.scale = scale != nullptr ? __ldg(scale + channel) : 1.f;
    a.shift = shift != nullptr ? __ldg(shift + channel) : 0.f;
    return a;
  }
  __device__ __forceinline__ float apply(float acc) const { return fmaf(acc, scale, shift); }
};

// residual is already converted to fp32 (0 when there is none).
__device__ __forceinline__ float finish_epilogue(float affine_value, float residual, bool relu) {
  const float v = affine_value + residual;
  return relu ? relu_keep_nan(v) : v;
}

}  // namespace convkernels
