// Shared by the emulator drivers (run_*.cpp): host tensors with explicit sizes, strides and
// storage offsets in every dtype, random fills, and the check counters. Test-only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/dtype_traits.cuh"
#include "common/index_math.h"

namespace emu {

using namespace convkernels;


inline int g_failures = 0;
inline int g_checks = 0;
inline std::mt19937 g_rng(2024);

// kNHWCOffset2: channels_last starting 2 elements into its storage (8 bytes for fp32: aligned
// to 8 but not to 16, so 16-byte vector accesses would be misaligned; UBSan checks that).
enum class Layout { kNCHW, kNHWC, kSliced, kMisaligned, kExpandedN, kNHWCOffset2 };

// A 4-D tensor over its own storage (element strides, storage offset), any dtype.
struct Tensor4 {
  DType dtype = DType::kFloat32;
  int64_t sizes[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0};
  int64_t offset = 0;
  std::vector<unsigned char> storage;

  int esize() const { return dtype_size(dtype); }
  void* data() { return storage.data() + offset * esize(); }
  int64_t index(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return offset + a * strides[0] + b * strides[1] + c * strides[2] + d * strides[3];
  }
  float get(int64_t a, int64_t b, int64_t c, int64_t d) const {
    const unsigned char* p = storage.data() + index(a, b, c, d) * esize();
    if (dtype == DType::kFloat32) { float v; std::memcpy(&v, p, 4); return v; }
    if (dtype == DType::kFloat16) { __half v; std::memcpy(&v, p, 2); return __half2float(v); }
    __nv_bfloat16 v; std::memcpy(&v, p, 2); return __bfloat162float(v);
  }
  void set(int64_t a, int64_t b, int64_t c, int64_t d, float value) {
    unsigned char* p = storage.data() + index(a, b, c, d) * esize();
    if (dtype == DType::kFloat32) std::memcpy(p, &value, 4);
    else if (dtype == DType::kFloat16) { const __half v = __float2half_rn(value); std::memcpy(p, &v, 2); }
    else { const __nv_bfloat16 v = __float2bfloat16_rn(value); std::memcpy(p, &v, 2); }
  }
};

// Logical [A, B, C, D] tensor; kNHWC keeps dim 1 innermost (also used for KRSC weights).
inline Tensor4 make_tensor(DType dtype, int64_t a, int64_t b, int64_t c, int64_t d, Layout layout) {
  Tensor4 t;
  t.dtype = dtype;
  const int64_t s[4] = {a, b, c, d};
  std::memcpy(t.sizes, s, sizeof(s));
  int64_t d_pad = d;
  switch (layout) {
    case Layout::kNHWC:
    case Layout::kNHWCOffset2:
      t.strides[1] = 1, t.strides[3] = b, t.strides[2] = d * b, t.strides[0] = c * d * b;
      break;
    case Layout::kSliced:  // a view of a wider tensor: rows of length d+3, every other channel
      d_pad = d + 3;
      t.strides[3] = 1, t.strides[2] = d_pad, t.strides[1] = 2 * c * d_pad, t.strides[0] = 2 * b * c * d_pad;
      break;
    case Layout::kExpandedN:  // x.expand(): batch stride 0
      t.strides[3] = 1, t.strides[2] = d, t.strides[1] = c * d, t.strides[0] = 0;
      break;
    default:  // NCHW and misaligned NCHW
      t.strides[3] = 1, t.strides[2] = d, t.strides[1] = c * d, t.strides[0] = b * c * d;
  }
  t.offset = layout == Layout::kMisaligned ? 1 : layout == Layout::kNHWCOffset2 ? 2 : 0;
  int64_t span = 1;
  for (int i = 0; i < 4; ++i) span += (s[i] - 1) * t.strides[i];
  // Exactly the bytes the view can reach: the emulator build runs under AddressSanitizer.
  t.storage.assign(size_t(span + t.offset) * t.esize(), 0xAB);
  return t;
}

inline void fill_random(Tensor4& t, float lo_q = -3, float hi_q = 3, float quantum = 0.25f, float bias = 0.f) {
  std::uniform_int_distribution<int> dist{int(lo_q), int(hi_q)};
  for (int64_t a = 0; a < t.sizes[0]; ++a)
    for (int64_t b = 0; b < t.sizes[1]; ++b)
      for (int64_t c = 0; c < t.sizes[2]; ++c)
        for (int64_t d = 0; d < t.sizes[3]; ++d) t.set(a, b, c, d, bias + quantum * float(dist(g_rng)));
}

// Values with full 24-bit mantissas in [-2, 2): rounding them to TF32 changes almost all of them.
inline void fill_full_mantissa(Tensor4& t) {
  std::uniform_real_distribution<float> dist{-2.f, 2.f};
  for (int64_t a = 0; a < t.sizes[0]; ++a)
    for (int64_t b = 0; b < t.sizes[1]; ++b)
      for (int64_t c = 0; c < t.sizes[2]; ++c)
        for (int64_t d = 0; d < t.sizes[3]; ++d) t.set(a, b, c, d, dist(g_rng));
}

// cvt.rna.tf32.f32 of a finite, normal value, written independently of the emulator's bit
// version: 11 significant bits, round half away from zero (std::round).
inline double round_tf32(double x) {
  int e;
  const double m = std::frexp(std::fabs(x), &e);  // |x| = m * 2^e, m in [0.5, 1)
  return std::copysign(std::ldexp(std::round(std::ldexp(m, 11)), e - 11), x);
}

// Largest errors of the TF32 cases, as a fraction of sum_k |a_k * b_k| * |scale| (the scale
// at which TF32 rounds): against the exact fp32 operands and against TF32-rounded operands.
inline double g_tf32_err_exact = 0, g_tf32_err_rounded = 0;

inline double tolerance(DType dtype, double ref) {
  const double rel = dtype == DType::kFloat32 ? 1e-5 : dtype == DType::kFloat16 ? 2e-3 : 1e-2;
  return rel * std::fabs(ref) + rel;
}

inline void expect_close(const char* what, const std::string& name, double got, double want, double tol) {
  ++g_checks;
  const bool both_nan = std::isnan(got) && std::isnan(want);
  if (!both_nan && !(std::fabs(got - want) <= tol)) {
    if (++g_failures <= 25) std::printf("FAIL %s [%s]: got %.6g want %.6g\n", name.c_str(), what, got, want);
  }
}

// 3xTF32 ("tf32x3") cases: the split's worst error in a case must be far below plain TF32's on
// the same data (2^-11 vs ~2^-22 per product); worst_* keep the maxima over all cases for the
// driver's note.
inline void expect_split_far_below_tf32(const std::string& name, double split_err, double tf32_err,
                                        double& worst_split, double& worst_tf32) {
  ++g_checks;
  if (!(split_err * 64 < tf32_err)) {
    ++g_failures;
    std::printf("FAIL %s: 3xTF32 max err %.3g is not 64x below plain TF32's %.3g\n", name.c_str(), split_err,
                tf32_err);
  }
  worst_split = std::max(worst_split, split_err);
  worst_tf32 = std::max(worst_tf32, tf32_err);
}

inline const char* dtype_name(DType d) { return d == DType::kFloat32 ? "f32" : d == DType::kFloat16 ? "f16" : "bf16"; }

// The summary line every driver ends with; returns main()'s exit status.
inline int finish(const char* driver) {
  std::printf("%s: %d checks, %d failures\n", driver, g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}

}  // namespace emu
