// Runs the real kernels of csrc/kernels through their public launchers on the CPU emulator
// (emulate_kernels.py in this folder builds it) and compares with float64 references. Tensors are
// plain host buffers with explicit sizes/strides/offsets, so dense, channels_last, sliced,
// expanded and misaligned layouts are all exercised. Test-only.
#include "emu_test.h"
#include "conv/batch_norm.h"
#include "conv/conv.h"

using namespace convkernels;
using namespace emu;

namespace {

// ------------------------------------------------------------------------------------ conv
struct ConvCase {
  const char* name;
  DType dtype;
  int N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw;
  bool tensor_cores;
  Layout input_layout, output_layout, residual_layout;
  bool scale, shift, residual, relu;
  int sm_count;  // steers the TC tile choice
  bool split_tf32 = false;  // fp32 on tensor cores in 3xTF32 ("tf32x3") instead of TF32
};

// 3xTF32: worst per-case error / sum|a*b*scale| over all checked cases, and plain TF32's on the
// same data (the note printed at the end).
double g_split_err_exact = 0, g_split_tf32_err_exact = 0;

void run_conv(const ConvCase& tc) {
  const std::string name = std::string(tc.name) + "/" + dtype_name(tc.dtype);
  const int64_t P = conv_output_size(tc.H, tc.R, tc.sh, tc.ph, tc.dh);
  const int64_t Q = conv_output_size(tc.W, tc.S, tc.sw, tc.pw, tc.dw);
  Tensor4 input = make_tensor(tc.dtype, tc.N, tc.C, tc.H, tc.W, tc.input_layout);
  Tensor4 weight = make_tensor(tc.dtype, tc.K, tc.C, tc.R, tc.S, tc.tensor_cores ? Layout::kNHWC : Layout::kNCHW);
  Tensor4 residual = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.residual_layout);
  Tensor4 output = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);
  // fp32 on the tensor-core kernel means TF32 math (3xTF32 with split_tf32).
  const bool tf32 = tc.tensor_cores && tc.dtype == DType::kFloat32;
  const bool split = tf32 && tc.split_tf32;
  Tensor4 output_tf32 = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);  // split: plain TF32
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
    err = launch_conv2d_implicit_gemm_tc(p, tc.dtype, nullptr, tc.split_tf32);
    if (split && err == cudaSuccess) {
      Conv2dParams plain = p;
      plain.output = output_tf32.data();
      err = launch_conv2d_implicit_gemm_tc(plain, tc.dtype, nullptr, false);
    }
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
  double case_split_err = 0, case_tf32_err = 0;
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
          const double u32 = std::ldexp(1.0, -24), u_tf32 = std::ldexp(1.0, -11);
          const double scaled_magnitude = magnitude * std::fabs(sc);
          if (split) {
            // 3xTF32: x = hi + lo + e with |x - hi| <= u_tf32 |x| (exact in fp32), |lo| <=
            // u_tf32 (1 + u_tf32) |x|, |e| <= u_tf32 |x - hi| <= 2^-22 |x|. Dropping lo_a lo_b and
            // the e terms moves each product by < 3.01 * 2^-22 |a b|; the three partial products
            // are exact in fp32, so what remains is fp32 accumulation of 3 * kg terms (magnitude
            // < (1 + 2^-10) |a b| each) plus the epilogue: the recursive-summation bound.
            const double tol_split =
                3.01 * std::ldexp(1.0, -22) * scaled_magnitude +
                double(3 * kg + 4) * u32 * ((1 + 2 * u_tf32) * scaled_magnitude + std::fabs(sh) + std::fabs(res));
            expect_close("3xTF32 out vs exact fp32 operands", name, got, finish(acc), tol_split);
            if (scaled_magnitude > 0) {
              const double plain = output_tf32.get(n, k, pp, q);
              case_split_err = std::max(case_split_err, std::fabs(got - finish(acc)) / scaled_magnitude);
              case_tf32_err = std::max(case_tf32_err, std::fabs(plain - finish(acc)) / scaled_magnitude);
            }
            continue;
          }
          // TF32: products of rounded operands are exact in fp32, so against the rounded-operand
          // reference only fp32 accumulation and epilogue rounding remain (recursive-summation
          // bound). Against the exact operands each product may move by (2u + u^2)|a b|, u = 2^-11.
          const double tol_rounded = double(kg + 4) * u32 * (scaled_magnitude + std::fabs(sh) + std::fabs(res));
          const double tol_exact = (2 * u_tf32 + u_tf32 * u_tf32) * scaled_magnitude + tol_rounded;
          expect_close("out vs tf32-rounded operands", name, got, finish(acc_tf32), tol_rounded);
          expect_close("out vs exact fp32 operands", name, got, finish(acc), tol_exact);
          if (scaled_magnitude > 0) {
            g_tf32_err_exact = std::max(g_tf32_err_exact, std::fabs(got - finish(acc)) / scaled_magnitude);
            g_tf32_err_rounded = std::max(g_tf32_err_rounded, std::fabs(got - finish(acc_tf32)) / scaled_magnitude);
          }
        }
  if (split) expect_split_far_below_tf32(name, case_split_err, case_tf32_err, g_split_err_exact, g_split_tf32_err_exact);
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
  // 3xTF32 on the same shapes: tiles (small, medium, large), reduction tails (C*R*S % 16 != 0),
  // NCHW / NHWC / 8-byte-aligned outputs, every epilogue operand.
  auto split_case = [](ConvCase c) {
    c.split_tf32 = true;
    return c;
  };
  run_conv(split_case({"tf32x3 small-tile nhwc-out C=4", tf32, 2, 4, 9, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, true, true, 4}));
  run_conv(split_case({"tf32x3 large-tile nchw-out", tf32, 2, 24, 11, 13, 72, 5, 3, 2, 1, 2, 0, 1, 2, true, L::kNHWC, L::kNCHW, L::kNCHW, true, false, true, false, 1}));
  run_conv(split_case({"tf32x3 odd-K strided-epilogue", tf32, 1, 12, 6, 5, 130, 3, 3, 2, 2, 1, 1, 2, 2, true, L::kNHWC, L::kNHWC, L::kSliced, false, true, true, true, 1}));
  run_conv(split_case({"tf32x3 medium-tile K>64", tf32, 2, 16, 12, 12, 96, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWC, L::kNHWC, true, true, false, true, 4}));
  run_conv(split_case({"tf32x3 medium-tile 1x1 m-tail", tf32, 2, 20, 12, 10, 64, 1, 1, 1, 1, 0, 0, 1, 1, true, L::kNHWC, L::kNCHW, L::kNHWC, false, false, true, false, 1}));
  run_conv(split_case({"tf32x3 8B-aligned nhwc output", tf32, 2, 8, 6, 6, 24, 3, 3, 1, 1, 1, 1, 1, 1, true, L::kNHWC, L::kNHWCOffset2, L::kNHWCOffset2, true, true, true, true, 4}));
  ++g_checks;
  if (ck_emu::g_unrounded_tf32_operands != 0) {
    ++g_failures;
    std::printf("FAIL tf32: %ld mma operands were not rounded to tf32 first\n", long(ck_emu::g_unrounded_tf32_operands));
  }
  std::printf("note: tf32 max |err| / sum|a*b*scale|: %.3g vs exact fp32 operands (bound 2^-10 = %.3g), "
              "%.3g vs tf32-rounded operands\n",
              g_tf32_err_exact, std::ldexp(1.0, -10), g_tf32_err_rounded);
  std::printf("note: tf32x3 max |err| / sum|a*b*scale|: %.3g vs exact fp32 operands (plain tf32 on the same data: "
              "%.3g; 2^-22 = %.3g)\n",
              g_split_err_exact, g_split_tf32_err_exact, std::ldexp(1.0, -22));
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

  return finish("run_conv");
}
