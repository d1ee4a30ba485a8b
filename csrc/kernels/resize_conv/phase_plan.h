// The nearest-neighbour phase fold along one dimension, host/device (no CUDA headers), mirroring
// convkernels/reference/resize_conv.py::phase_plan. For scale s, kernel k, padding p and stride t
// on the upsampled grid, with g = gcd(s, t): output o = rho + L*j (L = s/g) reads low-res rows
// d(rho, dy) + (t/g)*j, d(rho, dy) = floor((t*rho + dy - p) / s). Class rho is therefore a conv
// with stride t/g starting at row d0(rho) = d(rho, 0), over the folded taps 0..T-1.
#pragma once

#include <cstdint>

#include "common/index_math.h"

namespace convkernels {
namespace resize_conv {

constexpr int kMaxClassesPerAxis = 64;

struct PhaseAxis {
  int classes;     // L
  int low_stride;  // t / g
  int taps;        // T = max over classes of (d(rho, k-1) - d0(rho) + 1)
  int first_row[kMaxClassesPerAxis];  // d0(rho)
};

CK_HOST_DEVICE int64_t gcd64(int64_t a, int64_t b) {
  while (b != 0) {
    const int64_t r = a % b;
    a = b;
    b = r;
  }
  return a;
}

// False when s / gcd(s, t) exceeds kMaxClassesPerAxis (the glue refuses such scales).
CK_HOST_DEVICE bool make_phase_axis(int64_t scale, int64_t kernel, int64_t pad, int64_t stride, PhaseAxis* axis) {
  const int64_t g = gcd64(scale, stride);
  const int64_t classes = scale / g;
  if (classes > kMaxClassesPerAxis) return false;
  axis->classes = static_cast<int>(classes);
  axis->low_stride = static_cast<int>(stride / g);
  int taps = 1;
  for (int64_t rho = 0; rho < classes; ++rho) {
    const int64_t d0 = floor_div64(stride * rho - pad, scale);
    const int64_t d1 = floor_div64(stride * rho + kernel - 1 - pad, scale);
    axis->first_row[rho] = static_cast<int>(d0);
    if (d1 - d0 + 1 > taps) taps = static_cast<int>(d1 - d0 + 1);
  }
  axis->taps = taps;
  return true;
}

// Outputs of class rho among `out` outputs: rho, rho + L, ... < out.
CK_HOST_DEVICE int64_t class_outputs(int64_t out, int rho, int classes) {
  return out > rho ? (out - rho + classes - 1) / classes : 0;
}

}  // namespace resize_conv
}  // namespace convkernels
