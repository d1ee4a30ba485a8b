// Runs the Winograd kernels (filter transform + fused F(2x2,3x3) / F(4x4,3x3) conv) through their
// public launchers on the CPU emulator and compares with float64 direct convolution: every
// padding 0..2, ragged border tiles, several CTAs along tiles and channels, C not a multiple of
// the kernel's C slice, all dtypes (fp16/bf16 through the emulated mma.sync), NCHW / NHWC /
// sliced / misaligned / batch-expanded inputs, NCHW and NHWC outputs and residuals, and the
// epilogue (scale, shift, residual, ReLU); fp32 with TF32 allowed (the per-point GEMM on emulated
// mma.sync m16n8k8 .tf32) for both tile sizes, and TF32 allowed below sm_80 (IEEE SIMT); fp32 in
// 3xTF32 ("tf32x3", split_tf32: three emulated m16n8k8 .tf32 per product) for both tile sizes,
// held to fp32 bounds and compared with plain TF32 on the same data, and below sm_80 (SIMT).
// Test-only.
#include "emu_test.h"
#include "winograd/winograd.h"
#include "winograd/winograd_transforms.h"

using namespace convkernels;
using namespace emu;

namespace {

struct WinoCase {
  const char* name;
  DType dtype;
  int tile;
  int N, C, H, W, K, pad;
  Layout input_layout, output_layout;
  bool epilogue;  // scale + shift + residual + relu
  bool allow_tf32 = false;  // fp32: WinogradConvParams::allow_tf32
  int compute_major = 9;    // what the emulated device reports (TF32 needs 8+)
  bool split_tf32 = false;  // fp32: WinogradConvParams::split_tf32 (3xTF32, whatever allow_tf32 says)
};

// TF32 cases: mean |out - reference| / (sum|terms| * |scale| + 1) against the kernel's
// arithmetic with TF32-rounded V and U operands, and against the same with unrounded fp32
// operands (IEEE). The first must be far below the second, or the TF32 path did not run. (Means,
// not maxima: an fp32-vs-float64 difference in V occasionally flips its TF32 rounding, a
// 2^-10 change of one term, which the per-output bound allows but which would blur a max.)
double g_wino_tf32_err_rounded = 0, g_wino_tf32_err_unrounded = 0;
long g_wino_tf32_outputs = 0;
// 3xTF32 cases: worst per-case max |out - reference| / (sum|terms * scale| + 1) against the
// kernel's arithmetic on unrounded fp32 operands, and plain TF32's on the same data (maxima, as
// for the direct conv: no operand rounding sits between the two, so nothing blurs them).
double g_wino_split_err = 0, g_wino_split_tf32_err = 0;
long g_wino_split_cases = 0;

double round_to(DType d, double v) {
  const float f = float(v);
  if (d == DType::kFloat32) return f;
  if (d == DType::kFloat16) return __half2float(__float2half_rn(f));
  return __bfloat162float(__float2bfloat16_rn(f));
}

template <int M>
double coef_at(int i, int j) { return winograd::Transform<M>::at(i, j); }
template <int M>
double coef_bt(int i, int j) { return winograd::Transform<M>::bt(i, j); }

double unit_roundoff(DType d) {
  return d == DType::kFloat32 ? std::ldexp(1.0, -24) : d == DType::kFloat16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
}

void run_case(const WinoCase& tc) {
  const std::string name = std::string(tc.name) + "/" + dtype_name(tc.dtype) + "/F" + std::to_string(tc.tile);
  // TF32 / 3xTF32 math runs only where the launcher takes the tensor-core path; 3xTF32 wins over
  // TF32 and is checked against the unrounded operands with fp32's bounds.
  const bool tensor_core_fp32 = tc.dtype == DType::kFloat32 && tc.compute_major >= 8;
  const bool split = tensor_core_fp32 && tc.split_tf32;
  const bool tf32 = tensor_core_fp32 && tc.allow_tf32 && !split;
  ck_emu::g_compute_major = tc.compute_major;
  const int64_t P = tc.H + 2 * tc.pad - 2, Q = tc.W + 2 * tc.pad - 2;
  const int alpha = tc.tile + 2;
  Tensor4 input = make_tensor(tc.dtype, tc.N, tc.C, tc.H, tc.W, tc.input_layout);
  Tensor4 weight = make_tensor(tc.dtype, tc.K, tc.C, 3, 3, Layout::kNCHW);
  Tensor4 residual = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);
  Tensor4 output = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);
  Tensor4 output_tf32 = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);  // split: plain TF32
  if (tc.dtype == DType::kFloat32 && (tc.allow_tf32 || tc.split_tf32)) {
    // Full 24-bit mantissas: TF32 rounding changes almost every V and U element, so a missing
    // or misplaced rounding shows (fill_random's few-bit values would pass through unchanged).
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

  // Filter transform into a dense [alpha^2, K, C] buffer, checked against G w G^T in float64.
  std::vector<unsigned char> u_bytes(size_t(alpha * alpha) * tc.K * tc.C * dtype_size(tc.dtype));
  WinogradFilterParams fp;
  fp.weight = weight.data();
  fp.transformed = u_bytes.data();
  fp.K = tc.K, fp.C = tc.C;
  std::memcpy(fp.weight_strides, weight.strides, sizeof(fp.weight_strides));
  ++g_checks;
  if (launch_winograd_filter_transform(fp, tc.tile, tc.dtype, nullptr) != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: filter transform launcher failed\n", name.c_str());
    return;
  }
  Tensor4 u_view;  // [alpha^2, K, C, 1] over u_bytes
  u_view.dtype = tc.dtype;
  const int64_t us[4] = {alpha * alpha, tc.K, tc.C, 1};
  std::memcpy(u_view.sizes, us, sizeof(us));
  u_view.strides[0] = int64_t(tc.K) * tc.C, u_view.strides[1] = tc.C, u_view.strides[2] = 1, u_view.strides[3] = 1;
  u_view.storage = u_bytes;
  const double u = unit_roundoff(tc.dtype);
  // G (rows) for the reference, in float64 from the same points the header encodes.
  const double g2[4][3] = {{-1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  const double g4[6][3] = {{4, 0, 0},          {2. / 3, 2. / 3, 2. / 3},   {2. / 3, -2. / 3, 2. / 3},
                           {-8. / 3, -4. / 3, -2. / 3}, {-8. / 3, 4. / 3, -2. / 3}, {0, 0, 1}};
  for (int k = 0; k < tc.K; k += 3)
    for (int c = 0; c < tc.C; ++c)
      for (int a = 0; a < alpha; ++a)
        for (int b = 0; b < alpha; ++b) {
          double v = 0, mag = 0;
          for (int r = 0; r < 3; ++r)
            for (int s = 0; s < 3; ++s) {
              const double ga = tc.tile == 2 ? g2[a][r] : g4[a][r], gb = tc.tile == 2 ? g2[b][s] : g4[b][s];
              v += ga * weight.get(k, c, r, s) * gb;
              mag += std::fabs(ga * weight.get(k, c, r, s) * gb);
            }
          expect_close("U", name, u_view.get(a * alpha + b, k, c, 0), v, (u + 1e-6) * (mag + std::fabs(v)));
        }

  WinogradConvParams p;
  p.input = input.data();
  p.transformed = u_bytes.data();
  p.scale = tc.epilogue ? scale.data() : nullptr;
  p.shift = tc.epilogue ? shift.data() : nullptr;
  p.residual = tc.epilogue ? residual.data() : nullptr;
  p.output = output.data();
  p.N = tc.N, p.C = tc.C, p.H = tc.H, p.W = tc.W, p.K = tc.K, p.P = P, p.Q = Q;
  p.pad_h = p.pad_w = tc.pad;
  std::memcpy(p.input_strides, input.strides, sizeof(p.input_strides));
  std::memcpy(p.residual_strides, residual.strides, sizeof(p.residual_strides));
  std::memcpy(p.output_strides, output.strides, sizeof(p.output_strides));
  p.relu = tc.epilogue;
  p.allow_tf32 = tc.allow_tf32;
  p.split_tf32 = tc.split_tf32;
  ++g_checks;
  cudaError_t err = launch_winograd_conv2d(p, tc.tile, tc.dtype, nullptr);
  if (split && err == cudaSuccess) {  // the same data through plain TF32, for the comparison
    WinogradConvParams plain = p;
    plain.output = output_tf32.data();
    plain.allow_tf32 = true;
    plain.split_tf32 = false;
    err = launch_winograd_conv2d(plain, tc.tile, tc.dtype, nullptr);
  }
  if (err != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: conv launcher failed\n", name.c_str());
    return;
  }
  // Two references per output. (1) The kernel's own arithmetic in float64: V = B^T d B rounded
  // to the dtype, times the kernel's U (checked above), summed over C, A^T M A. Only fp32 vs
  // float64 transform/accumulation rounding separates it from the kernel (~1e-6 of the sum of
  // |terms|), plus at most a 1-ulp different rounding of some V element where the fp32 value
  // sits on a rounding boundary (2u of the largest term). This bound is tight: any index,
  // mask or coefficient error shows. (2) The exact direct convolution, with the loose
  // Winograd bound (transform amplification x dtype rounding), for the semantics.
  // TF32: V (the fp32 transform) and U are rounded to TF32 as mma operands, which is one more
  // rounding of the same size as fp16's (unit roundoff 2^-11) on the operands; products of TF32
  // values are exact and the accumulation is fp32. So both bounds take u_op = 2^-11 for the
  // operand rounding, the output rounding stays fp32's.
  // 3xTF32: V and U are not rounded; each product a*b loses only a_lo*b_lo and the rounding of
  // the residuals (< 3.01 * 2^-22 |a b|, far inside the 4e-6 * sum|terms| that fp32 transforms
  // and accumulation already get), so it takes fp32's bounds as they are (u_op = 2^-24).
  const int tiles_w = int((Q + tc.tile - 1) / tc.tile), tiles_h = int((P + tc.tile - 1) / tc.tile);
  auto at = [&](int i, int j) { return tc.tile == 2 ? coef_at<2>(i, j) : coef_at<4>(i, j); };
  auto bt = [&](int i, int j) { return tc.tile == 2 ? coef_bt<2>(i, j) : coef_bt<4>(i, j); };
  const int E = alpha * alpha;
  // vt[((n * tiles_h + ty) * tiles_w + tx) * C + c][e]
  std::vector<double> vt(size_t(tc.N) * tiles_h * tiles_w * tc.C * E);
  std::vector<double> vt_unrounded(tf32 ? vt.size() : 0);  // TF32: V before the operand rounding
  for (int n = 0; n < tc.N; ++n)
    for (int ty = 0; ty < tiles_h; ++ty)
      for (int tx = 0; tx < tiles_w; ++tx)
        for (int c = 0; c < tc.C; ++c) {
          double d[6][6] = {}, bd[6][6] = {};
          for (int i = 0; i < alpha; ++i)
            for (int j = 0; j < alpha; ++j) {
              const int64_t h = int64_t(ty) * tc.tile - tc.pad + i, w = int64_t(tx) * tc.tile - tc.pad + j;
              d[i][j] = (h >= 0 && h < tc.H && w >= 0 && w < tc.W) ? input.get(n, c, h, w) : 0.0;
            }
          for (int i = 0; i < alpha; ++i)
            for (int j = 0; j < alpha; ++j)
              for (int a = 0; a < alpha; ++a) bd[i][j] += bt(i, a) * d[a][j];
          double* v = &vt[((size_t(n) * tiles_h + ty) * tiles_w + tx) * tc.C * E + size_t(c) * E];
          for (int i = 0; i < alpha; ++i)
            for (int j = 0; j < alpha; ++j) {
              double s = 0;
              for (int b = 0; b < alpha; ++b) s += bd[i][b] * bt(j, b);
              v[i * alpha + j] = round_to(tc.dtype, s);
              if (tf32) {
                vt_unrounded[size_t(v - vt.data()) + i * alpha + j] = v[i * alpha + j];
                v[i * alpha + j] = round_tf32(v[i * alpha + j]);
              }
            }
        }
  const double amplification = tc.tile == 2 ? 8.0 : 96.0;
  double case_split_err = 0, case_tf32_err = 0;
  const double u_op = tf32 ? std::ldexp(1.0, -11) : u;
  auto u_operand = [&](int e, int k, int c) {
    const double value = u_view.get(e, k, c, 0);
    return tf32 ? round_tf32(value) : value;
  };
  for (int n = 0; n < tc.N; ++n)
    for (int k = 0; k < tc.K; ++k)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t q = 0; q < Q; ++q) {
          const int ty = int(pp / tc.tile), tx = int(q / tc.tile), i = int(pp % tc.tile), j = int(q % tc.tile);
          const size_t tile_offset = ((size_t(n) * tiles_h + ty) * tiles_w + tx) * tc.C * E;
          const double* vtile = &vt[tile_offset];
          const double* vtile_unrounded = tf32 ? &vt_unrounded[tile_offset] : nullptr;
          double emulated = 0, emulated_unrounded = 0, term_sum = 0, term_max = 0;
          for (int a = 0; a < alpha; ++a)
            for (int b = 0; b < alpha; ++b) {
              const double coef = at(i, a) * at(j, b);
              if (coef == 0) continue;
              for (int c = 0; c < tc.C; ++c) {
                const size_t vi = size_t(c) * E + a * alpha + b;
                const double term = coef * vtile[vi] * u_operand(a * alpha + b, k, c);
                emulated += term;
                if (tf32) emulated_unrounded += coef * vtile_unrounded[vi] * u_view.get(a * alpha + b, k, c, 0);
                term_sum += std::fabs(term);
                term_max = std::max(term_max, std::fabs(term));
              }
            }
          double acc = 0, magnitude = 0;
          for (int c = 0; c < tc.C; ++c)
            for (int r = 0; r < 3; ++r)
              for (int s = 0; s < 3; ++s) {
                const int64_t h = pp - tc.pad + r, w = q - tc.pad + s;
                if (h < 0 || h >= tc.H || w < 0 || w >= tc.W) continue;
                const double a = input.get(n, c, h, w), b = weight.get(k, c, r, s);
                acc += a * b;
                magnitude += std::fabs(a * b);
              }
          const double sc = tc.epilogue ? scale[k] : 1.0, sh = tc.epilogue ? shift[k] : 0.0;
          const double res = tc.epilogue ? residual.get(n, k, pp, q) : 0.0;
          auto finish = [&](double y) {
            const double v = y * sc + sh + res;
            return tc.epilogue && v < 0 ? 0.0 : v;
          };
          const double got = output.get(n, k, pp, q);
          const double want = finish(emulated);
          const double out_round = 2 * u * (std::fabs(want) + std::fabs(sh) + std::fabs(res)) + 1e-6;
          expect_close("out vs emulated rounding", name, got, want,
                       (4e-6 * term_sum + 2 * u_op * term_max) * std::fabs(sc) + out_round);
          const double exact = finish(acc);
          expect_close("out vs exact conv", name, got, exact,
                       (amplification * (2 * u_op + 1e-6) + 1e-6) * (magnitude + 1.0) * std::fabs(sc) + out_round);
          if (split && (!tc.epilogue || want > 0)) {
            const double scaled = term_sum * std::fabs(sc) + 1.0;
            case_split_err = std::max(case_split_err, std::fabs(got - want) / scaled);
            case_tf32_err = std::max(case_tf32_err, std::fabs(output_tf32.get(n, k, pp, q) - want) / scaled);
          }
          if (tf32 && (!tc.epilogue || want > 0)) {  // (ReLU-clamped outputs say nothing)
            const double scaled = term_sum * std::fabs(sc) + 1.0;
            g_wino_tf32_err_rounded += std::fabs(got - want) / scaled;
            g_wino_tf32_err_unrounded += std::fabs(got - finish(emulated_unrounded)) / scaled;
            ++g_wino_tf32_outputs;
          }
        }
  if (split) {
    ++g_wino_split_cases;
    expect_split_far_below_tf32(name, case_split_err, case_tf32_err, g_wino_split_err, g_wino_split_tf32_err);
  }
}

}  // namespace

int main() {
  const DType dtypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  for (DType dt : dtypes)
    for (int tile : {2, 4})
      for (int pad = 0; pad <= 2; ++pad) {
        // 2 images x ragged tiles -> more than 32 tiles (2+ CTAs along x) for F(2x2); K = 37
        // -> 2 CTAs along y; C = 19 -> a partial C slice for both slice widths (16 and 8).
        run_case({"nchw", dt, tile, 2, 19, 9, 11, 37, pad, Layout::kNCHW, Layout::kNCHW, pad == 1});
        run_case({"nhwc", dt, tile, 1, 8, 7, 6, 5, pad, Layout::kNHWC, Layout::kNHWC, pad != 1});
      }
  for (DType dt : dtypes) {
    run_case({"sliced", dt, 2, 1, 5, 6, 9, 7, 1, Layout::kSliced, Layout::kNCHW, true});
    run_case({"misaligned", dt, 4, 1, 6, 9, 5, 3, 1, Layout::kMisaligned, Layout::kNHWC, true});
    run_case({"expanded-batch", dt, 4, 2, 3, 5, 5, 4, 2, Layout::kExpandedN, Layout::kNCHW, false});
    run_case({"3x3-valid-single-tile", dt, 4, 1, 17, 3, 3, 33, 0, Layout::kNHWC, Layout::kNCHW, true});
    // F(4x4) CTAs own 32 tiles x 16 channels: 2 x 5 x 5 = 50 tiles -> 2 CTAs along x (the
    // second partial), K = 40 -> 3 CTAs along y (the last half full), through the shared-memory
    // accumulator exchange of its two point groups.
    run_case({"4x4-multi-cta", dt, 4, 2, 19, 17, 17, 40, 1, Layout::kNCHW, Layout::kNHWC, true});
  }
  // fp32 with TF32 allowed: the per-point GEMM on (emulated) mma.sync m16n8k8 .tf32, both tile
  // sizes. Ragged borders (odd P, Q), several CTAs along tiles and channels, C not a multiple
  // of the 8-channel slice, NCHW / NHWC / sliced / misaligned inputs and outputs, epilogue.
  const DType f32 = DType::kFloat32;
  for (int tile : {2, 4}) {
    // F(2x2): 60 tiles -> 2 CTAs along x, K = 37 -> 2 along y; F(4x4): 18 tiles, 3 along y.
    run_case({"tf32 nchw ragged", f32, tile, 2, 19, 9, 11, 37, 1, Layout::kNCHW, Layout::kNCHW, true, true});
    run_case({"tf32 nhwc pad0", f32, tile, 1, 8, 7, 6, 5, 0, Layout::kNHWC, Layout::kNHWC, false, true});
    run_case({"tf32 nhwc pad2", f32, tile, 1, 12, 6, 7, 9, 2, Layout::kNHWC, Layout::kNCHW, true, true});
    run_case({"tf32 sliced", f32, tile, 1, 5, 6, 9, 7, 1, Layout::kSliced, Layout::kNHWC, true, true});
    run_case({"tf32 misaligned", f32, tile, 1, 6, 9, 5, 3, 1, Layout::kMisaligned, Layout::kNCHW, false, true});
  }
  // F(2x2) 2 x 7 x 8 = 112 tiles -> 4 CTAs along x, K = 40 -> 2 along y (the last partial), 3
  // full C slices; F(4x4) 50 tiles -> 2 CTAs along x (the second partial), K = 40 -> 3 along y,
  // through the point groups' shared-memory accumulator exchange.
  run_case({"tf32 2x2-multi-cta", f32, 2, 2, 24, 13, 15, 40, 1, Layout::kNHWC, Layout::kNHWC, true, true});
  run_case({"tf32 4x4-multi-cta", f32, 4, 2, 19, 17, 17, 40, 1, Layout::kNCHW, Layout::kNHWC, true, true});
  // TF32 allowed below sm_80: no tensor cores, so the launcher keeps the IEEE fp32 SIMT path
  // (checked with fp32's bounds on full-mantissa data, which TF32 would not meet).
  for (int tile : {2, 4})
    run_case({"tf32 allowed on sm_75", f32, tile, 2, 19, 9, 11, 37, 1, Layout::kNCHW, Layout::kNHWC, true, true, 7});
  // 3xTF32 (split_tf32), with TF32 allowed or not (the split wins either way): the TF32 cases'
  // shapes, so ragged border tiles, C = 19 / 5 / 6 / 12 (partial 8-channel slices), several
  // CTAs along tiles and channels and F(4x4)'s accumulator exchange, every layout, epilogue.
  for (int tile : {2, 4}) {
    run_case({"tf32x3 nchw ragged", f32, tile, 2, 19, 9, 11, 37, 1, Layout::kNCHW, Layout::kNCHW, true, true, 9, true});
    run_case({"tf32x3 nhwc pad0", f32, tile, 1, 8, 7, 6, 5, 0, Layout::kNHWC, Layout::kNHWC, false, false, 9, true});
    run_case({"tf32x3 nhwc pad2", f32, tile, 1, 12, 6, 7, 9, 2, Layout::kNHWC, Layout::kNCHW, true, true, 8, true});
    run_case({"tf32x3 sliced", f32, tile, 1, 5, 6, 9, 7, 1, Layout::kSliced, Layout::kNHWC, true, false, 9, true});
    run_case({"tf32x3 misaligned", f32, tile, 1, 6, 9, 5, 3, 1, Layout::kMisaligned, Layout::kNCHW, false, true, 9, true});
  }
  run_case({"tf32x3 2x2-multi-cta", f32, 2, 2, 24, 13, 15, 40, 1, Layout::kNHWC, Layout::kNHWC, true, true, 9, true});
  run_case({"tf32x3 4x4-multi-cta", f32, 4, 2, 19, 17, 17, 40, 1, Layout::kNCHW, Layout::kNHWC, true, false, 9, true});
  // Below sm_80 a split request runs the IEEE fp32 SIMT path (fp32's bounds, no TF32 to compare).
  for (int tile : {2, 4})
    run_case({"tf32x3 on sm_75", f32, tile, 2, 19, 9, 11, 37, 1, Layout::kNCHW, Layout::kNHWC, true, true, 7, true});
  ck_emu::g_compute_major = 9;

  ++g_checks;
  if (ck_emu::g_unrounded_tf32_operands != 0) {
    ++g_failures;
    std::printf("FAIL tf32: %ld mma operands were not rounded to tf32 first\n",
                long(ck_emu::g_unrounded_tf32_operands));
  }
  // TF32 math must be visible: against IEEE fp32 operands the error is ~2^-11 of the terms, against
  // the TF32-rounded operands only fp32 accumulation noise.
  g_wino_tf32_err_rounded /= double(std::max(g_wino_tf32_outputs, 1L));
  g_wino_tf32_err_unrounded /= double(std::max(g_wino_tf32_outputs, 1L));
  ++g_checks;
  const bool tf32_visible = g_wino_tf32_outputs > 0 && g_wino_tf32_err_unrounded > 16 * g_wino_tf32_err_rounded &&
                            g_wino_tf32_err_unrounded > std::ldexp(1.0, -18);
  if (!tf32_visible) {
    ++g_failures;
    std::printf("FAIL tf32: output is no closer to TF32-operand math (%.3g) than to fp32-operand math (%.3g)\n",
                g_wino_tf32_err_rounded, g_wino_tf32_err_unrounded);
  }
  std::printf("note: tf32 mean |err| / (sum|terms * scale| + 1): %.3g vs TF32-rounded operands, %.3g vs "
              "unrounded fp32 operands (TF32 unit roundoff 2^-11 = %.3g)\n",
              g_wino_tf32_err_rounded, g_wino_tf32_err_unrounded, std::ldexp(1.0, -11));
  ++g_checks;
  if (g_wino_split_cases != 12) {
    ++g_failures;
    std::printf("FAIL tf32x3: %ld cases compared with plain TF32, expected 12\n", g_wino_split_cases);
  }
  std::printf("note: tf32x3 max |err| / (sum|terms * scale| + 1) vs unrounded fp32 operands: %.3g over %ld cases "
              "(plain tf32 on the same data: %.3g; 2^-22 = %.3g)\n",
              g_wino_split_err, g_wino_split_cases, g_wino_split_tf32_err, std::ldexp(1.0, -22));
  return finish("run_winograd");
}
