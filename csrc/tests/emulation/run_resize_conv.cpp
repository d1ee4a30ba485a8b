// Emulator driver for csrc/kernels/resize_conv: the nearest launcher (phase classes on the
// tensor-core tile body in one launch, or the per-class SIMT path) and the bilinear launcher
// (tensor-core tile body with the interpolating A loader, or the SIMT kernel),
// through their public launchers, against float64 references computed on the upsampled image.
// Inputs and weights are multiples of 1/4 with small magnitude, so folded weight sums, TF32
// operands and (at scale 2) the bilinear interpolation are exact in every dtype: a wrong index
// shows up as a wrong value, not as noise. fp32 3xTF32 cases (split_tf32) use full-mantissa data
// instead, are held to fp32 bounds and are compared with plain TF32 on the same data: error and
// emulated mma count (3x). Test-only.
#include "emu_test.h"
#include "resize_conv/phase_plan.h"
#include "resize_conv/resize_conv.h"

using namespace convkernels;
using namespace emu;

namespace {

// A [Lh, Lw, K, C, Th, Tw] folded weight in its own storage, either dense in the tensor-core
// order [Lh, Lw, K, Th, Tw, C] or dense in logical order.
struct Folded {
  DType dtype;
  int64_t sizes[6];
  int64_t strides[6];
  std::vector<unsigned char> storage;
  void set(const int64_t (&i)[6], float v) {
    int64_t off = 0;
    for (int d = 0; d < 6; ++d) off += i[d] * strides[d];
    unsigned char* p = storage.data() + off * dtype_size(dtype);
    if (dtype == DType::kFloat32) std::memcpy(p, &v, 4);
    else if (dtype == DType::kFloat16) { const __half h = __float2half_rn(v); std::memcpy(p, &h, 2); }
    else { const __nv_bfloat16 h = __float2bfloat16_rn(v); std::memcpy(p, &h, 2); }
  }
};

Folded fold(const Tensor4& w, const resize_conv::PhaseAxis& ah, const resize_conv::PhaseAxis& aw, int64_t scale,
            int64_t pad_h, int64_t pad_w, int64_t stride_h, int64_t stride_w, bool tc_order) {
  const int64_t K = w.sizes[0], C = w.sizes[1], R = w.sizes[2], S = w.sizes[3];
  Folded f;
  f.dtype = w.dtype;
  const int64_t sizes[6] = {ah.classes, aw.classes, K, C, ah.taps, aw.taps};
  std::memcpy(f.sizes, sizes, sizeof(sizes));
  if (tc_order) {  // memory [a, b, k, t, u, c]
    f.strides[3] = 1, f.strides[5] = C, f.strides[4] = aw.taps * C, f.strides[2] = ah.taps * aw.taps * C;
  } else {  // memory [a, b, k, c, t, u]
    f.strides[5] = 1, f.strides[4] = aw.taps, f.strides[3] = ah.taps * aw.taps, f.strides[2] = C * ah.taps * aw.taps;
  }
  f.strides[1] = K * f.strides[2], f.strides[0] = aw.classes * f.strides[1];
  std::vector<double> acc(size_t(ah.classes * aw.classes * K * C * ah.taps * aw.taps), 0.0);
  auto at = [&](int64_t a, int64_t b, int64_t k, int64_t c, int64_t t, int64_t u) -> double& {
    return acc[size_t(((((a * aw.classes + b) * K + k) * C + c) * ah.taps + t) * aw.taps + u)];
  };
  for (int a = 0; a < ah.classes; ++a)
    for (int b = 0; b < aw.classes; ++b)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t r = 0; r < R; ++r)
            for (int64_t s = 0; s < S; ++s) {
              const int64_t t = floor_div64(stride_h * a + r - pad_h, scale) - ah.first_row[a];
              const int64_t u = floor_div64(stride_w * b + s - pad_w, scale) - aw.first_row[b];
              at(a, b, k, c, t, u) += w.get(k, c, r, s);
            }
  f.storage.assign(size_t(sizes[0] * sizes[1] * K * C * ah.taps * aw.taps) * dtype_size(w.dtype), 0);
  for (int64_t a = 0; a < sizes[0]; ++a)
    for (int64_t b = 0; b < sizes[1]; ++b)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t t = 0; t < ah.taps; ++t)
            for (int64_t u = 0; u < aw.taps; ++u) f.set({a, b, k, c, t, u}, float(at(a, b, k, c, t, u)));
  return f;
}

struct Case {
  const char* name;
  DType dtype;
  bool bilinear, align_corners;
  int N, C, H, W, K, R, S, scale, sh, sw, ph, pw;
  Layout input_layout, output_layout;
  bool tensor_cores;  // allow the tensor-core path (bilinear: and require it to be taken)
  bool scale_shift, relu;
  int sm_count;
  bool split_tf32 = false;  // fp32: ResizeConvParams::split_tf32 (tensor_cores: the path is expected)
};

// 3xTF32 cases: worst per-case max |out - exact| / (sum|x_up * w| * |scale|), and plain TF32's.
double g_split_err = 0, g_split_tf32_err = 0;

// aten's upsample value (fp32 math, rounded to the dtype), or the nearest pixel.
double upsampled(const Case& tc, const Tensor4& x, int64_t n, int64_t c, int64_t hy, int64_t wx) {
  if (!tc.bilinear) return x.get(n, c, hy / tc.scale, wx / tc.scale);
  auto source = [&](int64_t dst, int64_t in, int64_t out, int& i0, int& step, float& l1) {
    float ratio = tc.align_corners ? (out > 1 ? float(in - 1) / float(out - 1) : 0.f) : float(1.0 / tc.scale);
    float src = tc.align_corners ? ratio * float(dst) : ratio * (float(dst) + 0.5f) - 0.5f;
    src = src < 0 ? 0 : src;
    i0 = std::min(int(src), int(in - 1));
    step = i0 < in - 1 ? 1 : 0;
    l1 = src - float(i0);
  };
  int h0, hs, w0, wsp;
  float lh1, lw1;
  source(hy, tc.H, int64_t(tc.H) * tc.scale, h0, hs, lh1);
  source(wx, tc.W, int64_t(tc.W) * tc.scale, w0, wsp, lw1);
  const float lh0 = 1.f - lh1, lw0 = 1.f - lw1;
  const float v = lh0 * (lw0 * x.get(n, c, h0, w0) + lw1 * x.get(n, c, h0, w0 + wsp)) +
                  lh1 * (lw0 * x.get(n, c, h0 + hs, w0) + lw1 * x.get(n, c, h0 + hs, w0 + wsp));
  Tensor4 one = make_tensor(tc.dtype, 1, 1, 1, 1, Layout::kNCHW);
  one.set(0, 0, 0, 0, v);
  return one.get(0, 0, 0, 0);
}

void run(const Case& tc) {
  const std::string name = std::string(tc.name) + "/" + dtype_name(tc.dtype);
  const int64_t P = floor_div64(int64_t(tc.scale) * tc.H + 2 * tc.ph - tc.R, tc.sh) + 1;
  const int64_t Q = floor_div64(int64_t(tc.scale) * tc.W + 2 * tc.pw - tc.S, tc.sw) + 1;
  Tensor4 x = make_tensor(tc.dtype, tc.N, tc.C, tc.H, tc.W, tc.input_layout);
  Tensor4 w = make_tensor(tc.dtype, tc.K, tc.C, tc.R, tc.S, Layout::kNCHW);
  Tensor4 out = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);
  const bool split = tc.split_tf32 && tc.dtype == DType::kFloat32;
  Tensor4 out_tf32 = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);  // split: plain TF32
  if (split) {  // every bit of the mantissa matters: TF32 rounding changes the result
    fill_full_mantissa(x);
    fill_full_mantissa(w);
  } else {
    fill_random(x);
    fill_random(w, -2, 2);
  }
  std::vector<float> scale(tc.K), shift(tc.K);
  for (int k = 0; k < tc.K; ++k) {
    scale[k] = 0.5f + 0.125f * float(k % 5);
    shift[k] = -1.f + 0.25f * float(k % 7);
  }
  ResizeConvParams p;
  p.input = x.data();
  p.scale = tc.scale_shift ? scale.data() : nullptr;
  p.shift = tc.scale_shift ? shift.data() : nullptr;
  p.output = out.data();
  p.N = tc.N, p.C = tc.C, p.H = tc.H, p.W = tc.W, p.K = tc.K, p.R = tc.R, p.S = tc.S, p.P = P, p.Q = Q;
  p.scale_factor = tc.scale, p.stride_h = tc.sh, p.stride_w = tc.sw, p.pad_h = tc.ph, p.pad_w = tc.pw;
  p.align_corners = tc.align_corners;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  std::memcpy(p.output_strides, out.strides, sizeof(p.output_strides));
  p.relu = tc.relu;
  ck_emu::g_sm_count = tc.sm_count;
  Folded folded;
  Tensor4 w_krsc;
  if (tc.bilinear) {
    p.weight = w.data();
    std::memcpy(p.weight_strides, w.strides, sizeof(w.strides));
    if (tc.tensor_cores) {  // the layout the glue hands the tensor-core kernel
      w_krsc = make_tensor(tc.dtype, tc.K, tc.C, tc.R, tc.S, Layout::kNHWC);
      for (int k = 0; k < tc.K; ++k)
        for (int c = 0; c < tc.C; ++c)
          for (int r = 0; r < tc.R; ++r)
            for (int s = 0; s < tc.S; ++s) w_krsc.set(k, c, r, s, w.get(k, c, r, s));
      p.weight = w_krsc.data();
      std::memcpy(p.weight_strides, w_krsc.strides, sizeof(w_krsc.strides));
      ++g_checks;
      if (!resize_bilinear_tc_supported(p, tc.dtype)) {
        ++g_failures;
        std::printf("FAIL %s: resize_bilinear_tc_supported() said no\n", name.c_str());
        return;
      }
    }
  } else {
    resize_conv::PhaseAxis ah, aw;
    resize_conv::make_phase_axis(tc.scale, tc.R, tc.ph, tc.sh, &ah);
    resize_conv::make_phase_axis(tc.scale, tc.S, tc.pw, tc.sw, &aw);
    folded = fold(w, ah, aw, tc.scale, tc.ph, tc.pw, tc.sh, tc.sw, tc.tensor_cores);
    p.weight = folded.storage.data();
    std::memcpy(p.weight_strides, folded.strides, sizeof(folded.strides));
  }
  auto launch = [&](Tensor4& output, bool allow_tensor_cores, bool split_tf32, long& tf32_mma_lanes) {
    p.output = output.data();
    p.split_tf32 = split_tf32;
    const long before = ck_emu::g_tf32_mma_lanes;
    const cudaError_t e = tc.bilinear ? launch_resize_bilinear_conv2d(p, tc.dtype, allow_tensor_cores, nullptr)
                                      : launch_resize_nearest_conv2d(p, tc.dtype, allow_tensor_cores, nullptr);
    tf32_mma_lanes = ck_emu::g_tf32_mma_lanes - before;
    return e;
  };
  // 3xTF32 is asked for alone (it must choose the tensor cores by itself), then the same data
  // through plain TF32 for the comparison.
  long split_mma = 0, tf32_mma = 0;
  cudaError_t err = launch(out, tc.tensor_cores && !split, split, split_mma);
  if (split && err == cudaSuccess) err = launch(out_tf32, true, false, tf32_mma);
  ++g_checks;
  if (err != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: launcher returned %d\n", name.c_str(), int(err));
    return;
  }
  const int64_t HU = int64_t(tc.H) * tc.scale, WU = int64_t(tc.W) * tc.scale;
  double case_split_err = 0, case_tf32_err = 0;
  for (int n = 0; n < tc.N; ++n)
    for (int k = 0; k < tc.K; ++k)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = 0, magnitude = 0;
          for (int c = 0; c < tc.C; ++c)
            for (int r = 0; r < tc.R; ++r)
              for (int s = 0; s < tc.S; ++s) {
                const int64_t hy = pp * tc.sh - tc.ph + r, wx = q * tc.sw - tc.pw + s;
                if (hy < 0 || hy >= HU || wx < 0 || wx >= WU) continue;
                const double term = upsampled(tc, x, n, c, hy, wx) * w.get(k, c, r, s);
                acc += term;
                magnitude += std::fabs(term);
              }
          double v = tc.scale_shift ? acc * scale[k] + shift[k] : acc;
          if (tc.relu && v < 0) v = 0;
          const double got = out.get(n, k, pp, q);
          if (!split) {
            expect_close("out", name, got, v, tolerance(tc.dtype, v));
            continue;
          }
          // 3xTF32 (or fp32 SIMT where the tensor cores cannot run): per product < 3.01 * 2^-22
          // |a b| from the split (see run_conv.cpp); the fp32 roundings of the folded weight sums
          // (nearest) or of the interpolated values (bilinear, op order), accumulation of 3 * C*R*S
          // terms and the epilogue: the recursive-summation bound with a few spare roundings.
          const double scaled = magnitude * (tc.scale_shift ? std::fabs(scale[k]) : 1.0);
          const double sh = tc.scale_shift ? std::fabs(shift[k]) : 0.0;
          const double u32 = std::ldexp(1.0, -24);
          const double n_terms = double(tc.C) * tc.R * tc.S;
          expect_close("3xTF32 out vs exact", name, got, v,
                       3.01 * std::ldexp(1.0, -22) * scaled + (3 * n_terms + 8) * u32 * (1.001 * scaled + sh));
          if (tc.tensor_cores && scaled > 0 && !(tc.relu && v == 0)) {  // (ReLU-clamped outputs say nothing)
            case_split_err = std::max(case_split_err, std::fabs(got - v) / scaled);
            case_tf32_err = std::max(case_tf32_err, std::fabs(out_tf32.get(n, k, pp, q) - v) / scaled);
          }
        }
  if (!split) return;
  ++g_checks;
  if (tc.tensor_cores ? !(tf32_mma > 0 && split_mma == 3 * tf32_mma) : split_mma != 0) {
    ++g_failures;
    std::printf("FAIL %s: 3xTF32 ran %ld tf32 mma lanes, plain TF32 %ld (expected %s)\n", name.c_str(), split_mma,
                tf32_mma, tc.tensor_cores ? "3x, > 0" : "none: the SIMT path");
  }
  if (tc.tensor_cores) expect_split_far_below_tf32(name, case_split_err, case_tf32_err, g_split_err, g_split_tf32_err);
}

}  // namespace

int main() {
  using L = Layout;
  const DType f32 = DType::kFloat32, f16 = DType::kFloat16, bf16 = DType::kBFloat16;
  const Case cases[] = {
      // name, dtype, bilinear, align, N, C, H, W, K, R, S, scale, sh, sw, ph, pw, in, out, tc, affine, relu, sms
      // ---- nearest on tensor cores: all classes in one launch ----
      {"nearest-x2-3x3-tc", f16, false, false, 2, 8, 5, 4, 8, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, true, 4},
      {"nearest-x2-3x3-tc-nchw-out", bf16, false, false, 1, 16, 4, 5, 12, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNCHW, true, false, false, 4},
      {"nearest-x4-3x3-tc-16-classes", f16, false, false, 1, 8, 3, 3, 8, 3, 3, 4, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, false, 4},
      {"nearest-x3-5x5-s2-tc", f32, false, false, 1, 4, 4, 3, 6, 5, 5, 3, 2, 2, 2, 2, L::kNHWC, L::kNHWC, true, true, true, 4},
      {"nearest-x2-s2-single-class-vector-epilogue", f16, false, false, 2, 8, 4, 4, 8, 3, 3, 2, 2, 2, 1, 1, L::kNHWC, L::kNHWC, true, true, false, 4},
      {"nearest-x2-pad0-negative-class-pad-tc", bf16, false, false, 1, 8, 5, 5, 4, 3, 3, 2, 1, 1, 0, 0, L::kNHWC, L::kNHWC, true, false, false, 4},
      {"nearest-x2-K72-large-tile", f16, false, false, 2, 8, 8, 8, 72, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, false, 1},
      {"nearest-x5-stride3-tc", f16, false, false, 1, 8, 2, 2, 4, 3, 3, 5, 3, 3, 1, 1, L::kNHWC, L::kNHWC, true, false, false, 4},
      // ---- nearest, per-class SIMT path ----
      {"nearest-x2-3x3-simt-nchw", f32, false, false, 2, 3, 4, 5, 5, 3, 3, 2, 1, 1, 1, 1, L::kNCHW, L::kNCHW, false, true, true, 4},
      {"nearest-x3-1x1-pad0-simt", f16, false, false, 1, 5, 3, 4, 3, 1, 1, 3, 1, 1, 0, 0, L::kSliced, L::kNCHW, false, false, false, 4},
      {"nearest-x2-misaligned-simt", bf16, false, false, 1, 3, 5, 3, 4, 3, 3, 2, 1, 1, 1, 1, L::kMisaligned, L::kNHWC, false, true, false, 4},
      {"nearest-x2-pad-beyond-kernel", f32, false, false, 1, 2, 2, 2, 3, 3, 3, 2, 1, 1, 4, 4, L::kNCHW, L::kNCHW, false, true, false, 4},
      {"nearest-x2-expanded-batch", f32, false, false, 2, 3, 3, 3, 2, 3, 3, 2, 1, 1, 1, 1, L::kExpandedN, L::kNCHW, false, false, false, 4},
      {"nearest-tc-requested-but-C3-falls-back", f16, false, false, 1, 3, 3, 3, 4, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, false, false, 4},
      // ---- bilinear ----
      {"bilinear-x2-3x3", f32, true, false, 2, 3, 4, 5, 5, 3, 3, 2, 1, 1, 1, 1, L::kNCHW, L::kNCHW, false, true, true, 4},
      {"bilinear-x2-3x3-align", f16, true, true, 1, 4, 3, 4, 3, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, false, false, false, 4},
      {"bilinear-x3-5x5-s2", bf16, true, false, 1, 3, 3, 3, 4, 5, 5, 3, 2, 2, 2, 2, L::kSliced, L::kNCHW, false, true, false, 4},
      {"bilinear-x4-align-misaligned", f32, true, true, 1, 2, 3, 2, 3, 3, 3, 4, 1, 1, 1, 1, L::kMisaligned, L::kNCHW, false, false, true, 4},
      {"bilinear-x2-K70", f16, true, false, 1, 5, 4, 4, 70, 3, 3, 2, 1, 1, 1, 1, L::kNHWCOffset2, L::kNHWC, false, true, false, 4},
      {"bilinear-x1-on-1x1", f32, true, false, 1, 4, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, L::kNCHW, L::kNCHW, false, false, false, 4},
      // ---- bilinear on tensor cores: A chunks interpolated in registers, st.shared ----
      {"bilinear-x2-3x3-tc", f16, true, false, 2, 8, 5, 4, 8, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, true, 4},
      {"bilinear-x2-align-tc-nchw-out", bf16, true, true, 1, 16, 4, 3, 12, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNCHW, true, false, false, 4},
      {"bilinear-x4-s2-tc", f16, true, false, 1, 8, 3, 2, 4, 3, 3, 4, 2, 2, 1, 1, L::kNHWC, L::kNHWC, true, true, false, 4},
      {"bilinear-x3-5x5-tc-tf32", f32, true, true, 1, 4, 3, 3, 6, 5, 5, 3, 1, 1, 2, 2, L::kNHWC, L::kNHWC, true, false, true, 4},
      {"bilinear-x2-K72-large-tile", f16, true, false, 2, 8, 6, 6, 72, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, false, 1},
  };
  for (const Case& c : cases) run(c);
  // 3xTF32: every tile size (K72 on one SM: large), both resize kinds, NHWC / NCHW outputs, the
  // epilogue, several phase classes per launch; and a C that the tensor cores cannot take.
  const Case split_cases[] = {
      {"tf32x3 nearest-x2-3x3", f32, false, false, 2, 8, 5, 4, 8, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, true, 4, true},
      {"tf32x3 nearest-x3-5x5-s2-nchw-out", f32, false, false, 1, 12, 4, 3, 6, 5, 5, 3, 2, 2, 2, 2, L::kNHWC, L::kNCHW, true, true, false, 4, true},
      {"tf32x3 nearest-x2-K72-large-tile", f32, false, false, 2, 8, 8, 8, 72, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, false, false, 1, true},
      {"tf32x3 nearest-x2-medium-tile", f32, false, false, 2, 4, 9, 9, 40, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, false, 1, true},
      {"tf32x3 nearest-C3-simt", f32, false, false, 1, 3, 3, 3, 4, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, false, true, false, 4, true},
      {"tf32x3 bilinear-x2-3x3", f32, true, false, 2, 8, 5, 4, 8, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, true, 4, true},
      {"tf32x3 bilinear-x3-5x5-align-nchw-out", f32, true, true, 1, 4, 3, 3, 6, 5, 5, 3, 1, 1, 2, 2, L::kNHWC, L::kNCHW, true, false, true, 4, true},
      {"tf32x3 bilinear-x2-K72-large-tile", f32, true, false, 2, 8, 6, 6, 72, 3, 3, 2, 1, 1, 1, 1, L::kNHWC, L::kNHWC, true, true, false, 1, true},
  };
  for (const Case& c : split_cases) run(c);
  std::printf("note: tf32x3 max |err| / sum|x*w*scale|: %.3g vs exact (plain tf32 on the same data: %.3g; 2^-22 = %.3g)\n",
              g_split_err, g_split_tf32_err, std::ldexp(1.0, -22));
  return finish("run_resize_conv");
}
