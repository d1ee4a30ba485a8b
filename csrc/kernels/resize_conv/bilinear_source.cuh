// aten's bilinear source-pixel rule (upsample_bilinear2d), shared by the bilinear kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convkernels {
namespace resize_conv {

// One axis of the linear interpolation: lower index, +1 step (0 at the border) and weights.
struct Linear1d {
  int i0;
  int step;
  float l0, l1;
};

// fp32 source index ratio*(dst + 0.5) - 0.5 clamped at 0 (ratio*dst with align_corners), as
// area_pixel_compute_source_index computes it; the +1 neighbour is clamped at the border.
__device__ __forceinline__ Linear1d linear_source(int dst, int in_size, float ratio, bool align_corners) {
  float src = align_corners ? ratio * static_cast<float>(dst) : ratio * (static_cast<float>(dst) + 0.5f) - 0.5f;
  src = src < 0.f ? 0.f : src;
  Linear1d l;
  l.i0 = static_cast<int>(src);
  if (l.i0 > in_size - 1) l.i0 = in_size - 1;
  l.step = l.i0 < in_size - 1 ? 1 : 0;
  l.l1 = src - static_cast<float>(l.i0);
  l.l0 = 1.f - l.l1;
  return l;
}

// aten's area_pixel_compute_scale for an explicit integer scale_factor, as an fp32 value.
inline float source_ratio(int64_t in_size, int64_t out_size, int64_t scale_factor, bool align_corners) {
  if (align_corners) {
    return out_size > 1 ? static_cast<float>(in_size - 1) / static_cast<float>(out_size - 1) : 0.f;
  }
  return static_cast<float>(1.0 / static_cast<double>(scale_factor));
}

}  // namespace resize_conv
}  // namespace convkernels
