// Implicit-GEMM index math shared by the conv kernels, host/device so that
// csrc/tests/test_index_math.cpp can check it against brute force on the CPU.
//   row m  -> (n, p, q) -> input window origin (h0, w0)
//   column kg of the reduction -> (r, s, c) with kg = (r*S + s)*C + c (NHWC / KRSC order)
#pragma once

#include <cstdint>

#include "common/index_math.h"

namespace convkernels {
namespace conv {

// Sizes as 32-bit ints (the launcher has checked the limits) plus precomputed dividers.
struct ConvShape {
  int N, C, H, W, K, R, S, P, Q;
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int M;   // N * P * Q
  int Kg;  // C * R * S
  FastDivmod div_pq, div_q;  // decompose m
  FastDivmod div_c, div_s;   // decompose kg (generic kernel)
};

struct OutputPixel {
  int n, p, q;
};

CK_HOST_DEVICE OutputPixel decompose_output_row(const ConvShape& s, int m) {
  OutputPixel px;
  int pq;
  s.div_pq.divmod(m, px.n, pq);
  s.div_q.divmod(pq, px.p, px.q);
  return px;
}

// Window origin of an output row. Rows past M get an origin so negative that every
// h = h0 + r*dil_h stays < 0, which turns them into zero-filled (masked) loads for free.
constexpr int kMaskedRowOrigin = -(1 << 30);

struct RowGeometry {
  int nh;  // n * H: the NHWC pixel index is (nh + h) * W + w
  int h0;
  int w0;
};

CK_HOST_DEVICE RowGeometry make_row_geometry(const ConvShape& s, int m) {
  RowGeometry g;
  if (m < s.M) {
    const OutputPixel px = decompose_output_row(s, m);
    g.nh = px.n * s.H;
    g.h0 = px.p * s.stride_h - s.pad_h;
    g.w0 = px.q * s.stride_w - s.pad_w;
  } else {
    g.nh = 0;
    g.h0 = kMaskedRowOrigin;
    g.w0 = 0;
  }
  return g;
}

// Walks kg = (r*S + s)*C + c forward without division. Only valid for C > 0; advancing by
// `step` costs at most step/C + 1 iterations (the TC kernel steps by 32 with C >= 8 for
// 16-bit types, by 16 with C >= 4 for fp32).
struct RscCursor {
  int r, s, c;
  CK_HOST_DEVICE void normalize(int C, int S) {
    while (c >= C) {
      c -= C;
      if (++s == S) {
        s = 0;
        ++r;
      }
    }
  }
  CK_HOST_DEVICE void start(int kg, int C, int S) {
    r = 0;
    s = 0;
    c = kg;
    normalize(C, S);
  }
  CK_HOST_DEVICE void advance(int step, int C, int S) {
    c += step;
    normalize(C, S);
  }
};

// Element offset of in[n, c, h, w] for dense NHWC input, or false when the tap falls in the
// padding (or the row/column is masked: r >= R marks the reduction tail).
CK_HOST_DEVICE bool nhwc_input_offset(const ConvShape& s, const RowGeometry& g, const RscCursor& k,
                                      int64_t* offset) {
  const int h = g.h0 + k.r * s.dil_h;
  const int w = g.w0 + k.s * s.dil_w;
  const bool valid = k.r < s.R && static_cast<unsigned>(h) < static_cast<unsigned>(s.H) &&
                     static_cast<unsigned>(w) < static_cast<unsigned>(s.W);
  *offset = (static_cast<int64_t>(g.nh + h) * s.W + w) * s.C + k.c;
  return valid;
}

// (r, s, c) of reduction column kg by division (generic kernel, any C).
struct RscIndex {
  int r, s, c;
};

CK_HOST_DEVICE RscIndex decompose_reduction_index(const ConvShape& sh, int kg) {
  RscIndex k;
  int rs;
  sh.div_c.divmod(kg, rs, k.c);
  sh.div_s.divmod(rs, k.r, k.s);
  return k;
}

}  // namespace conv
}  // namespace convkernels
