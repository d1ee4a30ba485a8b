// Pooling windows for the emulator drivers of the pool and lrn families (run_pool.cpp,
// run_lrn.cpp): a test case's window built with the kernels' own geometry helpers, the taps of
// one output in torch's scan order, and the input layouts every driver sweeps. Test-only.
#pragma once

#include <cstdint>
#include <vector>

#include "emu_test.h"
#include "pool/pool_geometry.h"

namespace emu {

inline constexpr Layout kInputLayouts[] = {Layout::kNCHW,       Layout::kNHWC,      Layout::kSliced,
                                           Layout::kMisaligned, Layout::kExpandedN, Layout::kNHWCOffset2};
inline const char* layout_name(Layout l) {
  switch (l) {
    case Layout::kNCHW: return "nchw";
    case Layout::kNHWC: return "nhwc";
    case Layout::kSliced: return "sliced";
    case Layout::kMisaligned: return "misaligned";
    case Layout::kExpandedN: return "expanded";
    case Layout::kNHWCOffset2: return "nhwc+2";
  }
  return "?";
}

// Dense position of (n, c, y, x) in a [N, C, Y, X] buffer in NCHW or NHWC order (for indices).
inline int64_t dense_at(bool cl, int64_t C, int64_t Y, int64_t X, int64_t n, int64_t c, int64_t y, int64_t x) {
  return cl ? ((n * Y + y) * X + x) * C + c : ((n * C + c) * Y + y) * X + x;
}

struct PoolCase {
  const char* name;
  int N, C, H, W;
  int kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil_mode;
  bool adaptive;
  int OH, OW;  // adaptive only
  bool count_include_pad = true;
  int divisor_override = 0;
};

inline PoolWindow2d window_of(const PoolCase& pc) {
  PoolWindow2d g;
  g.adaptive = pc.adaptive;
  if (pc.adaptive) {
    g.h = adaptive_axis(pc.H, pc.OH), g.w = adaptive_axis(pc.W, pc.OW);
  } else {
    g.h = fixed_axis(pc.H, pool_output_size(pc.H, pc.kh, pc.sh, pc.ph, pc.dh, pc.ceil_mode), pc.kh, pc.sh, pc.ph, pc.dh);
    g.w = fixed_axis(pc.W, pool_output_size(pc.W, pc.kw, pc.sw, pc.pw, pc.dw, pc.ceil_mode), pc.kw, pc.sw, pc.pw, pc.dw);
  }
  return g;
}

// Taps of output o along one axis, in scan order (torch's definition).
inline std::vector<int64_t> taps(const PoolAxis& a, bool adaptive, int64_t o) {
  std::vector<int64_t> t;
  if (adaptive) {
    for (int64_t i = (o * a.in) / a.out; i < (o * a.in + a.in + a.out - 1) / a.out && i < ((o + 1) * a.in + a.out - 1) / a.out; ++i) t.push_back(i);
  } else {
    for (int64_t k = 0; k < a.kernel; ++k) {
      const int64_t i = o * a.stride - a.pad + k * a.dilation;
      if (i >= 0 && i < a.in) t.push_back(i);
    }
  }
  return t;
}

}  // namespace emu
