// 32-bit sizes and precomputed dividers shared by the grouped / depthwise kernels, filled on the
// host after the index-limit check (so every element index below fits in an int).
#pragma once

#include <cstdint>

#include "common/index_math.h"

namespace convkernels {
namespace depthwise {

constexpr int64_t kInt32Limit = (int64_t(1) << 31) - 1;

struct Geometry {
  int N, C, H, W, K, R, S, P, Q;
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int Cg, Kg;  // channels per group (input, output); depthwise: Cg = 1, Kg = multiplier
};

// Tap r of output row p reads input row h = p*stride - pad + r*dil: h when inside the image, else -1.
CK_HOST_DEVICE int input_coordinate(int p, int r, int stride, int pad, int dil, int extent) {
  const int h = p * stride - pad + r * dil;
  return static_cast<unsigned>(h) < static_cast<unsigned>(extent) ? h : -1;
}

// Inverse: the output row p whose tap r lands on input row h (p*stride = h + pad - r*dil), or -1.
CK_HOST_DEVICE int output_coordinate(int h, int r, int stride, int pad, int dil, int extent) {
  const int num = h + pad - r * dil;
  const int p = num / stride;
  return (num >= 0 && p * stride == num && p < extent) ? p : -1;
}

}  // namespace depthwise
}  // namespace convkernels
