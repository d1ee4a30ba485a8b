// The fused epilogue of the contract: out = act(acc * scale[k] + shift[k] + residual), in fp32.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convkernels {

// The operands of that epilogue as every kernel that ends in it receives them (conv kernels,
// BN scale-shift-ReLU). Strides are element strides of the logical [N, C|K, H|P, W|Q] tensors.
struct EpilogueOperands {
  const float* scale;    // [channels] fp32, or null (= 1)
  const float* shift;    // [channels] fp32, or null (= 0)
  const void* residual;  // output dtype and shape, or null
  void* output;
  int64_t residual_strides[4];
  int64_t output_strides[4];
  bool relu;
};

// From a launcher's params struct (Conv2dParams, ScaleShiftParams): both name these fields alike.
template <typename Params>
inline EpilogueOperands make_epilogue_operands(const Params& p) {
  EpilogueOperands e;
  e.scale = p.scale;
  e.shift = p.shift;
  e.residual = p.residual;
  e.output = p.output;
  for (int d = 0; d < 4; ++d) {
    e.residual_strides[d] = p.residual_strides[d];
    e.output_strides[d] = p.output_strides[d];
  }
  e.relu = p.relu;
  return e;
}

// ReLU that lets NaN through, like torch.relu (fmaxf(NaN, 0) would return 0).
__device__ __forceinline__ float relu_keep_nan(float v) { return v < 0.f ? 0.f : v; }

// Per-output-channel affine part; a null scale means 1, a null shift means 0.
struct ChannelAffine {
  float scale;
  float shift;
  static __device__ __forceinline__ ChannelAffine load(const EpilogueOperands& e, int channel) {
    ChannelAffine a;
    a.scale = e.scale != nullptr ? __ldg(e.scale + channel) : 1.f;
    a.shift = e.shift != nullptr ? __ldg(e.shift + channel) : 0.f;
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
