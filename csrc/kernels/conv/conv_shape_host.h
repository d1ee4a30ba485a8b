// Host-side conversion of Conv2dParams (int64, from the glue) into the 32-bit ConvShape the
// kernels index with, plus the limit check that makes that conversion safe.
#pragma once

#include <cstdint>

#include "conv/conv.h"
#include "conv/conv_geometry.h"

namespace convkernels {
namespace conv {

constexpr int64_t kInt32Limit = (int64_t(1) << 31) - 1;

inline const char* index_limit_violation(const Conv2dParams& p) {
  const int64_t extents[] = {p.N, p.C, p.H, p.W, p.K, p.R, p.S, p.P, p.Q,
                             p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
  for (int64_t e : extents) {
    if (e < 0 || e > kInt32Limit) return "a size, stride, padding or dilation does not fit in 32 bits";
  }
  if (p.N * p.P * p.Q > kInt32Limit) return "N*P*Q (output pixels) must be < 2^31; split the batch";
  if (p.C * p.R * p.S > kInt32Limit) return "C*R*S (reduction length) must be < 2^31";
  if (p.N * p.H > kInt32Limit) return "N*H must be < 2^31; split the batch";
  // grid.y holds the output-channel tile (64 channels at the narrowest) and is limited to 65535.
  if (p.K > int64_t(65535) * 64) return "K (output channels) must be <= 4194240";
  // Window origins p*stride - pad and taps r*dil must stay far from the masked-row sentinel.
  if (p.P * p.stride_h + p.pad_h + p.R * p.dil_h >= (int64_t(1) << 29) ||
      p.Q * p.stride_w + p.pad_w + p.S * p.dil_w >= (int64_t(1) << 29) || p.H >= (int64_t(1) << 29) ||
      p.W >= (int64_t(1) << 29)) {
    return "spatial extents (H, W, P*stride + pad + R*dilation) must be < 2^29";
  }
  return "";
}

inline ConvShape make_conv_shape(const Conv2dParams& p) {
  ConvShape s;
  s.N = int(p.N);
  s.C = int(p.C);
  s.H = int(p.H);
  s.W = int(p.W);
  s.K = int(p.K);
  s.R = int(p.R);
  s.S = int(p.S);
  s.P = int(p.P);
  s.Q = int(p.Q);
  s.stride_h = int(p.stride_h);
  s.stride_w = int(p.stride_w);
  s.pad_h = int(p.pad_h);
  s.pad_w = int(p.pad_w);
  s.dil_h = int(p.dil_h);
  s.dil_w = int(p.dil_w);
  s.M = int(p.N * p.P * p.Q);
  s.Kg = int(p.C * p.R * p.S);
  s.div_pq = FastDivmod(s.P * s.Q);
  s.div_q = FastDivmod(s.Q);
  s.div_c = FastDivmod(s.C);
  s.div_s = FastDivmod(s.S);
  return s;
}

}  // namespace conv
}  // namespace convkernels
