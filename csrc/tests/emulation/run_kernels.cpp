// Runs the real kernels of csrc/kernels through their public launchers on the CPU emulator
// (emulate_kernels.py in this folder builds it) and compares with float64 references. Tensors are
// plain host buffers with explicit sizes/strides/offsets, so dense, channels_last, sliced,
// expanded and misaligned layouts are all exercised. Test-only.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "batch_norm/batch_norm.h"
#include "common/dtype_traits.cuh"
#include "common/index_math.h"
#include "conv_direct/conv_direct.h"

using namespace convkernels;

namespace {

int g_failures = 0;
int g_checks = 0;
std::mt19937 g_rng(2024);

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
Tensor4 make_tensor(DType dtype, int64_t a, int64_t b, int64_t c, int64_t d, Layout layout) {
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

void fill_random(Tensor4& t, float lo_q = -3, float hi_q = 3, float quantum = 0.25f, float bias = 0.f) {
  std::uniform_int_distribution<int> dist{int(lo_q), int(hi_q)};
  for (int64_t a = 0; a < t.sizes[0]; ++a)
    for (int64_t b = 0; b < t.sizes[1]; ++b)
      for (int64_t c = 0; c < t.sizes[2]; ++c)
        for (int64_t d = 0; d < t.sizes[3]; ++d) t.set(a, b, c, d, bias + quantum * float(dist(g_rng)));
}

// Values with full 24-bit mantissas in [-2, 2): rounding them to TF32 changes almost all of them.
void fill_full_mantissa(Tensor4& t) {
  std::uniform_real_distribution<float> dist{-2.f, 2.f};
  for (int64_t a = 0; a < t.sizes[0]; ++a)
    for (int64_t b = 0; b < t.sizes[1]; ++b)
      for (int64_t c = 0; c < t.sizes[2]; ++c)
        for (int64_t d = 0; d < t.sizes[3]; ++d) t.set(a, b, c, d, dist(g_rng));
}

// cvt.rna.tf32.f32 of a finite, normal value, written independently of the emulator's bit
// version: 11 significant bits, round half away from zero (std::round).
double round_tf32(double x) {
  int e;
  const double m = std::frexp(std::fabs(x), &e);  // |x| = m * 2^e, m in [0.5, 1)
  return std::copysign(std::ldexp(std::round(std::ldexp(m, 11)), e - 11), x);
}

// Largest errors of the TF32 cases, as a fraction of sum_k |a_k * b_k| * |scale| (the scale
// at which TF32 rounds): against the exact fp32 operands and against TF32-rounded operands.
double g_tf32_err_exact = 0, g_tf32_err_rounded = 0;

double tolerance(DType dtype, double ref) {
  const double rel = dtype == DType::kFloat32 ? 1e-5 : dtype == DType::kFloat16 ? 2e-3 : 1e-2;
  return rel * std::fabs(ref) + rel;
}

void expect_close(const char* what, const std::string& name, double got, double want, double tol) {
  ++g_checks;
  const bool both_nan = std::isnan(got) && std::isnan(want);
  if (!both_nan && !(std::fabs(got - want) <= tol)) {
    if (++g_failures <= 25) std::printf("FAIL %s [%s]: got %.6g want %.6g\n", name.c_str(), what, got, want);
  }
}

const char* dtype_name(DType d) { return d == DType::kFloat32 ? "f32" : d == DType::kFloat16 ? "f16" : "bf16"; }

// ------------------------------------------------------------------------------------ conv
struct ConvCase {
  const char* name;
  DType dtype;
  int N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw;
  bool tensor_cores;
  Layout input_layout, output_layout, residual_layout;
  bool scale, shift, residual, relu;
  int sm_count;  // steers the TC tile choice
};

void run_conv(const ConvCase& tc) {
  const std::string name = std::string(tc.name) + "/" + dtype_name(tc.dtype);
  const int64_t P = conv_output_size(tc.H, tc.R, tc.sh, tc.ph, tc.dh);
  const int64_t Q = conv_output_size(tc.W, tc.S, tc.sw, tc.pw, tc.dw);
  Tensor4 input = make_tensor(tc.dtype, tc.N, tc.C, tc.H, tc.W, tc.input_layout);
  Tensor4 weight = make_tensor(tc.dtype, tc.K, tc.C, tc.R, tc.S, tc.tensor_cores ? Layout::kNHWC : Layout::kNCHW);
  Tensor4 residual = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.residual_layout);
  Tensor4 output = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);
  // fp32 on the tensor-core kernel means TF32 math.
  const bool tf32 = tc.tensor_cores && tc.dtype == DType::kFloat32;
  if (tf32) {
    fill_full_mantissa(input);
    fill_full_mantissa(weight);
  } else {
    fill_random(input);
    fill_random(weight, -2, 2);
  }
  fill_random(residual, -8, 8);
  std::vector<float> scale(tc.K), shift(tc.K);
  for (int k = 0; k < tc.K; ++k) {
    scale[k] = 0.5f + 0.03125f * float(k % 17);
    shift[k] = -1.f + 0.125f * float(k % 13);
  }

  Conv2dParams p;
  p.input = input.data();
  p.weight = weight.data();
  p.scale = tc.scale ? scale.data() : nullptr;
  p.shift = tc.shift ? shift.data() : nullptr;
  p.residual = tc.residual ? residual.data() : nullptr;
  p.output = output.data();
  p.N = tc.N, p.C = tc.C, p.H = tc.H, p.W = tc.W, p.K = tc.K, p.R = tc.R, p.S = tc.S, p.P = P, p.Q = Q;
  p.stride_h = tc.sh, p.stride_w = tc.sw, p.pad_h = tc.ph, p.pad_w = tc.pw, p.dil_h = tc.dh, p.dil_w = tc.dw;
  std::memcpy(p.input_strides, input.strides, sizeof(p.input_strides));
  std::memcpy(p.weight_strides, weight.strides, sizeof(p.weight_strides));
  std::memcpy(p.residual_strides, residual.strides, sizeof(p.residual_strides));
  std::memcpy(p.output_strides, output.strides, sizeof(p.output_strides));
  p.relu = tc.relu;
  ck_emu::g_sm_count = tc.sm_count;

  cudaError_t err;
  if (tc.tensor_cores) {
    ++g_checks;
    if (!conv2d_tc_supported(p, tc.dtype)) {
      ++g_failures;
      std::printf("FAIL %s: conv2d_tc_supported() said no\n", name.c_str());
      return;
    }
    err = launch_conv2d_implicit_gemm_tc(p, tc.dtype, nullptr);
  } else {
    err = launch_conv2d_implicit_gemm_generic(p, tc.dtype, nullptr);
  }
  ++g_checks;
  if (err != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: launcher returned %d\n", name.c_str(), int(err));
    return;
  }
  const int64_t kg = int64_t(tc.C) * tc.R * tc.S;
  for (int n = 0; n < tc.N; ++n)
    for (int k = 0; k < tc.K; ++k)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = 0, acc_tf32 = 0, magnitude = 0;
          for (int c = 0; c < tc.C; ++c)
            for (int r = 0; r < tc.R; ++r)
              for (int s = 0; s < tc.S; ++s) {
                const int64_t h = pp * tc.sh - tc.ph + r * tc.dh, w = q * tc.sw - tc.pw + s * tc.dw;
                if (h < 0 || h >= tc.H || w < 0 || w >= tc.W) continue;
                const double a = input.get(n, c, h, w), b = weight.get(k, c, r, s);
                acc += a * b;
                acc_tf32 += round_tf32(a) * round_tf32(b);
                magnitude += std::fabs(a * b);
              }
          const double sc = tc.scale ? scale[k] : 1.0, sh = tc.shift ? shift[k] : 0.0;
          const double res = tc.residual ? residual.get(n, k, pp, q) : 0.0;
          auto finish = [&](double a) {
            const double v = a * sc + sh + res;
            return tc.relu && v < 0 ? 0.0 : v;
          };
          const double got = output.get(n, k, pp, q);
          if (!tf32) {
            const double v = finish(acc);
            expect_close("out", name, got, v, tolerance(tc.dtype, v));
            continue;
          }
          // TF32: products of rounded operands are exact in fp32, so against the rounded-operand
          // reference only fp32 accumulation and epilogue rounding remain (recursive-summation
          // bound). Against the exact operands each product may move by (2u + u^2)|a b|, u = 2^-11.
          const double u32 = std::ldexp(1.0, -24), u_tf32 = std::ldexp(1.0, -11);
          const double scaled_magnitude = magnitude * std::fabs(sc);
          const double tol_rounded = double(kg + 4) * u32 * (scaled_magnitude + std::fabs(sh) + std::fabs(res));
          const double tol_exact = (2 * u_tf32 + u_tf32 * u_tf32) * scaled_magnitude + tol_rounded;
          expect_close("out vs tf32-rounded operands", name, got, finish(acc_tf32), tol_rounded);
          expect_close("out vs exact fp32 operands", name, got, finish(acc), tol_exact);
          if (scaled_magnitude > 0) {
            g_tf32_err_exact = std::max(g_tf32_err_exact, std::fabs(got - finish(acc)) / scaled_magnitude);
            g_tf32_err_rounded = std::max(g_tf32_err_rounded, std::fabs(got - finish(acc_tf32)) / scaled_magnitude);
          }
        }
}

// ---------------------------------------------------------------------------- batch norm
void run_moments(const char* label, DType dtype, int N, int C, int H, int W, Layout layout, float bias, int sms) {
  const std::string name = std::string(label) + "/" + dtype_name(dtype);
  Tensor4 x = make_tensor(dtype, N, C, H, W, layout);
  fill_random(x, -40, 40, 0.0625f, bias);
  std::vector<float> mean(C, -1.f), var(C, -1.f);
  ChannelMomentsParams p;
  p.input = x.data();
  p.mean = mean.data();
  p.var = var.data();
  p.N = N, p.C = C, p.H = H, p.W = W;
  std::memcpy(p.strides, x.strides, sizeof(p.strides));
  ck_emu::g_sm_count = sms;
  std::vector<float> workspace(size_t(channel_moments_workspace_floats(p)) + 1);
  ++g_checks;
  if (launch_channel_moments(p, dtype, workspace.data(), nullptr) != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: launch_channel_moments failed\n", name.c_str());
    return;
  }
  for (int c = 0; c < C; ++c) {
    double m = 0, m2 = 0;
    const double count = double(N) * H * W;
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < H; ++h)
        for (int w = 0; w < W; ++w) m += x.get(n, c, h, w);
    m /= count;
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < H; ++h)
        for (int w = 0; w < W; ++w) m2 += (x.get(n, c, h, w) - m) * (x.get(n, c, h, w) - m);
    expect_close("mean", name, mean[c], m, 1e-6 * std::fabs(m) + 1e-6);
    expect_close("var", name, var[c], m2 / count, 1e-4 * (m2 / count) + 1e-6);
  }
}

void run_scale_shift(const char* label, DType dtype, int N, int C, int H, int W, Layout in_layout, Layout out_layout,
                     bool residual, Layout res_layout, bool relu, bool inject_nan, int sms = 4) {
  ck_emu::g_sm_count = sms;
  const std::string name = std::string(label) + "/" + dtype_name(dtype);
  Tensor4 x = make_tensor(dtype, N, C, H, W, in_layout);
  Tensor4 r = make_tensor(dtype, N, C, H, W, res_layout);
  Tensor4 out = make_tensor(dtype, N, C, H, W, out_layout);
  fill_random(x, -16, 16);
  fill_random(r, -16, 16);
  if (inject_nan) x.set(0, C - 1, H - 1, W - 1, NAN);
  std::vector<float> scale(C), shift(C);
  for (int c = 0; c < C; ++c) scale[c] = 0.75f + 0.1f * c, shift[c] = -0.5f + 0.05f * c;
  ScaleShiftParams p;
  p.input = x.data();
  p.scale = scale.data();
  p.shift = shift.data();
  p.residual = residual ? r.data() : nullptr;
  p.output = out.data();
  p.N = N, p.C = C, p.H = H, p.W = W;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  std::memcpy(p.residual_strides, r.strides, sizeof(p.residual_strides));
  std::memcpy(p.output_strides, out.strides, sizeof(p.output_strides));
  p.relu = relu;
  ++g_checks;
  if (launch_scale_shift_relu(p, dtype, nullptr) != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: launch_scale_shift_relu failed\n", name.c_str());
    return;
  }
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int h = 0; h < H; ++h)
        for (int w = 0; w < W; ++w) {
          double v = double(x.get(n, c, h, w)) * scale[c] + shift[c] + (residual ? r.get(n, c, h, w) : 0.0);
          if (relu && v < 0) v = 0;  // NaN stays NaN, like torch.relu
          expect_close("out", name, out.get(n, c, h, w), v, tolerance(dtype, v));
        }
}

}  // namespace

int main() {
  using L = Layout;
  const DType f32 = DType::kFloat32, f16 = DType::kFloat16, bf16 = DType::kBFloat16;
  for (DType dt : {f16, bf16}) {
    // name, dtype, N C H W K R S sh sw ph pw dh dw, tc, in/out/res layouts, scale shift res relu, sms
    run_conv({"tc small-tile nhwc-out", dt, 2, 16, 9, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, true, true, 4});
    run_conv({"tc large-tile nchw-out", dt, 2, 24, 11, 13, 72, 5, 3, 2, 1, 2, 0, 1, 2, true, L::kNHWC, L::kNCHW, L::kNCHW, true, false, true, false, 1});
    run_conv({"tc odd-K strided-epilogue", dt, 1, 64, 6, 5, 130, 3, 3, 2, 2, 1, 1, 2, 2, true, L::kNHWC, L::kNHWC, L::kSliced, false, true, true, true, 1});
    run_conv({"tc medium-tile 7x7/4", dt, 3, 8, 15, 15, 8, 7, 7, 4, 4, 3, 3, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, false, true, 1});
    run_conv({"tc medium-tile 1x1 m-tail", dt, 2, 32, 12, 10, 64, 1, 1, 1, 1, 0, 0, 1, 1, true, L::kNHWC, L::kNCHW, L::kNHWC, false, false, true, false, 1});
    run_conv({"tc medium-tile K>64", dt, 2, 16, 12, 12, 96, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, false, true, 4});
    run_conv({"tc single k-tile", dt, 2, 8, 5, 5, 16, 1, 1, 1, 1, 0, 0, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, true, true, 1});
    run_conv({"tc small-tile wide K", dt, 1, 16, 4, 4, 136, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNCHW, L::kNHWC, true, true, true, true, 1000});
    run_conv({"generic C=3 11x11/4", dt, 2, 3, 23, 21, 12, 11, 11, 4, 4, 2, 2, 1, 1, false, L::kNCHW, L::kNCHW, L::kNCHW, true, true, true, true, 4});
    run_conv({"generic sliced input", dt, 2, 5, 8, 9, 7, 3, 2, 1, 2, 1, 1, 1, 1, false, L::kSliced, L::kNHWC, L::kMisaligned, true, false, true, true, 4});
    run_conv({"generic nhwc half-precision", dt, 1, 16, 7, 7, 20, 3, 3, 1, 1, 1, 1, 1, 1, false, L::kNHWC, L::kNHWC, L::kNHWC, false, true, false, false, 4});
  }
  // fp32 on tensor cores = TF32 math. C % 4 == 0 suffices (C = 4, 12, 20 are not multiples of 8).
  const DType tf32 = f32;
  run_conv({"tf32 small-tile nhwc-out C=4", tf32, 2, 4, 9, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, true, true, 4});
  run_conv({"tf32 large-tile nchw-out", tf32, 2, 24, 11, 13, 72, 5, 3, 2, 1, 2, 0, 1, 2, true, L::kNHWC, L::kNCHW, L::kNCHW, true, false, true, false, 1});
  run_conv({"tf32 odd-K strided-epilogue", tf32, 1, 12, 6, 5, 130, 3, 3, 2, 2, 1, 1, 2, 2, true, L::kNHWC, L::kNHWC, L::kSliced, false, true, true, true, 1});
  run_conv({"tf32 medium-tile 7x7/4", tf32, 3, 4, 15, 15, 8, 7, 7, 4, 4, 3, 3, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, false, true, 1});
  run_conv({"tf32 medium-tile 1x1 m-tail", tf32, 2, 20, 12, 10, 64, 1, 1, 1, 1, 0, 0, 1, 1, true, L::kNHWC, L::kNCHW, L::kNHWC, false, false, true, false, 1});
  run_conv({"tf32 medium-tile K>64", tf32, 2, 16, 12, 12, 96, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, false, true, 4});
  run_conv({"tf32 single k-tile", tf32, 2, 16, 5, 5, 16, 1, 1, 1, 1, 0, 0, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, true, true, 1});
  run_conv({"tf32 small-tile wide K", tf32, 1, 8, 4, 4, 136, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNCHW, L::kNHWC, true, true, true, true, 1000});
  // Output/residual channels_last but only 8-byte aligned: must take the strided epilogue.
  run_conv({"tf32 8B-aligned nhwc output", tf32, 2, 8, 6, 6, 24, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWCOffset2, L::kNHWCOffset2, true, true, true, true, 4});
  ++g_checks;
  if (ck_emu::g_unrounded_tf32_operands != 0) {
    ++g_failures;
    std::printf("FAIL tf32: %ld mma operands were not rounded to tf32 first\n", long(ck_emu::g_unrounded_tf32_operands));
  }
  std::printf("note: tf32 max |err| / sum|a*b*scale|: %.3g vs exact fp32 operands (bound 2^-10 = %.3g), "
              "%.3g vs tf32-rounded operands\n",
              g_tf32_err_exact, std::ldexp(1.0, -10), g_tf32_err_rounded);
  run_conv({"generic nchw", f32, 2, 6, 10, 9, 70, 3, 3, 1, 1, 1, 1, 1, 1, false, L::kNCHW, L::kNCHW, L::kNCHW, true, true, true, true, 4});
  run_conv({"generic nhwc dilated", f32, 2, 12, 9, 11, 33, 3, 3, 2, 1, 2, 2, 2, 2, false, L::kNHWC, L::kNHWC, L::kSliced, true, true, true, false, 4});
  run_conv({"generic expanded batch", f32, 3, 4, 6, 6, 5, 2, 2, 1, 1, 0, 1, 1, 1, false, L::kExpandedN, L::kNCHW, L::kNCHW, false, false, false, true, 4});
  run_conv({"generic misaligned", f32, 1, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, false, L::kMisaligned, L::kNCHW, L::kNCHW, false, true, true, false, 4});

  for (DType dt : {f32, f16, bf16}) {
    run_moments("moments nchw", dt, 2, 5, 7, 9, L::kNCHW, 0.f, 4);
    run_moments("moments nhwc multi-slice", dt, 3, 40, 17, 19, L::kNHWC, 0.f, 64);
    run_moments("moments sliced", dt, 2, 3, 6, 5, L::kSliced, 0.f, 4);
    run_moments("moments 1x1 spatial", dt, 37, 3, 1, 1, L::kNCHW, 0.f, 4);
    run_scale_shift("ssr vector nchw", dt, 2, 3, 4, 8, L::kNCHW, L::kNCHW, true, L::kNCHW, true, false);
    run_scale_shift("ssr vector nhwc", dt, 2, 16, 3, 5, L::kNHWC, L::kNHWC, true, L::kNHWC, false, false);
    run_scale_shift("ssr strided nhwc odd C", dt, 2, 3, 4, 5, L::kNHWC, L::kNHWC, false, L::kNHWC, true, true);
    run_scale_shift("ssr mixed layouts", dt, 2, 5, 3, 7, L::kSliced, L::kNCHW, true, L::kNHWC, true, false);
    run_scale_shift("ssr misaligned", dt, 1, 8, 2, 8, L::kMisaligned, L::kNCHW, false, L::kNCHW, false, true);
    // One SM: 16 blocks of 256 threads, so both paths loop grid-stride.
    run_scale_shift("ssr grid-stride strided", dt, 2, 8, 32, 40, L::kSliced, L::kNCHW, true, L::kNCHW, true, false, 1);
    run_scale_shift("ssr grid-stride vector", dt, 4, 8, 32, 48, L::kNCHW, L::kNCHW, true, L::kNCHW, true, false, 1);
  }
  run_moments("moments large mean", f32, 4, 6, 33, 35, L::kNCHW, 1000.f, 16);  // Welford vs cancellation
  run_moments("moments large mean nhwc", f32, 4, 6, 33, 35, L::kNHWC, 1000.f, 16);

  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
