// Window geometry of 2-D pooling, shared by the pooling and LRN+pool kernels, their host
// launchers and the emulator tests. No CUDA headers (plain C++ on the host as well).
//
// Fixed windows (max/avg pool): output o reads inputs o*stride - pad + i*dilation, i < kernel.
// Adaptive windows: output o reads [floor(o*I/O), ceil((o+1)*I/O)), torch's rule; `kernel`
// then holds the longest such window (a loop bound).
// Backward gathers: input i is read by the outputs o with i = o*stride - pad + t*dilation for
// some tap t (fixed), or o in [floor(i*O/I), ceil((i+1)*O/I)) (adaptive; `cover` bounds it).
#pragma once

#include <cstdint>

#include "common/index_math.h"

namespace convkernels {

struct PoolAxis {
  int64_t in = 0, out = 0;
  int64_t kernel = 1, stride = 1, pad = 0, dilation = 1;
  int64_t cover = 1;  // adaptive: most outputs reading one input

  // First input row of output o's window (fixed: may be negative, in the padding).
  CK_HOST_DEVICE int64_t start(int64_t o, bool adaptive) const {
    return adaptive ? (o * in) / out : o * stride - pad;
  }
  CK_HOST_DEVICE int64_t adaptive_end(int64_t o) const { return ceil_div64((o + 1) * in, out); }
  // Adaptive only: outputs [first_cover(i), last_cover(i)) read input i.
  CK_HOST_DEVICE int64_t first_cover(int64_t i) const { return (i * out) / in; }
  CK_HOST_DEVICE int64_t end_cover(int64_t i) const { return ceil_div64((i + 1) * out, in); }
};

struct PoolWindow2d {
  PoolAxis h, w;
  bool adaptive = false;
};

// torch's pooling_output_shape; with ceil_mode a last window starting in the right padding is dropped.
inline int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                                bool ceil_mode) {
  int64_t out = floor_div64(in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

inline PoolAxis fixed_axis(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  PoolAxis a;
  a.in = in, a.out = out, a.kernel = kernel, a.stride = stride, a.pad = pad, a.dilation = dilation;
  return a;
}

// The loop bounds of an adaptive axis: longest window, and most outputs covering one input.
inline PoolAxis adaptive_axis(int64_t in, int64_t out) {
  PoolAxis a;
  a.in = in, a.out = out;
  a.kernel = 1, a.cover = 1;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t len = a.adaptive_end(o) - a.start(o, true);
    if (len > a.kernel) a.kernel = len;
  }
  for (int64_t i = 0; i < in; ++i) {
    const int64_t n = a.end_cover(i) - a.first_cover(i);
    if (n > a.cover) a.cover = n;
  }
  return a;
}

// torch's avg_pool2d divisor for the window of (oh, ow) (fixed windows).
CK_HOST_DEVICE int64_t avg_pool_divisor(const PoolWindow2d& g, int64_t oh, int64_t ow, bool count_include_pad,
                                        int64_t divisor_override) {
  if (divisor_override > 0) return divisor_override;
  const int64_t h0 = g.h.start(oh, false), w0 = g.w.start(ow, false);
  const int64_t h1 = h0 + g.h.kernel < g.h.in + g.h.pad ? h0 + g.h.kernel : g.h.in + g.h.pad;
  const int64_t w1 = w0 + g.w.kernel < g.w.in + g.w.pad ? w0 + g.w.kernel : g.w.in + g.w.pad;
  if (count_include_pad) return (h1 - h0) * (w1 - w0);
  const int64_t hc = (h1 < g.h.in ? h1 : g.h.in) - (h0 > 0 ? h0 : 0);
  const int64_t wc = (w1 < g.w.in ? w1 : g.w.in) - (w0 > 0 ? w0 : 0);
  return hc * wc;
}

}  // namespace convkernels
