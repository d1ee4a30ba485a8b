// Device pieces shared by the LRN kernels and the fused LRN + max-pool kernel.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/dtype_traits.cuh"
#include "lrn/lrn.h"

namespace convkernels {
namespace lrn {

struct LrnConstants {
  int size, channels;
  float alpha_over_size, beta, k;
};

inline LrnConstants make_constants(const LrnCoefficients& c, int64_t channels) {
  return {static_cast<int>(c.size), static_cast<int>(channels), c.alpha / static_cast<float>(c.size), c.beta, c.k};
}

// s^e for s > 0 in fp32 (exp2/log2 keep it inline; s <= 0 gives NaN or inf like torch's pow).
__device__ __forceinline__ float lrn_pow(float s, float e) { return exp2f(e * log2f(s)); }

// s_c = k + alpha/size * sum of x^2 over channel c's window, zero padded; `pixel` points at
// channel 0 of one (n, h, w), `cs` is the channel stride.
template <typename T>
__device__ __forceinline__ float lrn_scale(const T* pixel, int64_t cs, int c, const LrnConstants& l) {
  const int first = max(c - l.size / 2, 0);
  const int last = min(c + (l.size - 1) / 2, l.channels - 1);
  float sum = 0.f;
  for (int t = first; t <= last; ++t) {
    const float v = load_as_float(pixel + t * cs);
    sum += v * v;
  }
  return l.k + l.alpha_over_size * sum;
}

}  // namespace lrn
}  // namespace convkernels
