// Runs the real LRN kernels (csrc/kernels/lrn) through their launchers on the CPU emulator and
// compares with float64 references written here from torch's definitions: local_response_norm
// and its backward, and the fused LRN + max-pool in both orders (values, and the indices of the
// pooled maxima). Inputs in every layout of emu_test.h; outputs dense NCHW or NHWC; the 64-bit
// index path (forced). Test-only.
#include "emu_test.h"
#include "lrn/lrn.h"
#include "pool_windows.h"

using namespace convkernels;
using namespace emu;

namespace {

double lrn_scale_ref(const Tensor4& x, int64_t n, int64_t c, int64_t h, int64_t w, const LrnCoefficients& l) {
  double sum = 0;
  for (int64_t t = c - l.size / 2; t <= c + (l.size - 1) / 2; ++t)
    if (t >= 0 && t < x.sizes[1]) sum += double(x.get(n, t, h, w)) * x.get(n, t, h, w);
  return double(l.k) + double(l.alpha) / double(l.size) * sum;
}

void run_lrn(int N, int C, int H, int W, LrnCoefficients l, DType dt, Layout in_layout, bool out_cl, bool force64) {
  const std::string name = "lrn size=" + std::to_string(l.size) + " C=" + std::to_string(C) + "/" + dtype_name(dt) + "/" +
                           layout_name(in_layout) + (out_cl ? "->nhwc" : "->nchw") + (force64 ? "/i64" : "");
  Tensor4 x = make_tensor(dt, N, C, H, W, in_layout);
  fill_random(x, -8, 8, 0.25f);
  Tensor4 y = make_tensor(dt, N, C, H, W, out_cl ? Layout::kNHWC : Layout::kNCHW);
  LrnParams p;
  p.input = x.data(), p.output = y.data();
  p.N = N, p.C = C, p.H = H, p.W = W, p.lrn = l;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  p.channels_last = out_cl, p.force_int64 = force64;
  ++g_checks;
  if (launch_local_response_norm(p, dt, nullptr) != cudaSuccess) { ++g_failures; return; }
  Tensor4 go = make_tensor(dt, N, C, H, W, in_layout == Layout::kNHWC ? Layout::kNCHW : Layout::kNHWC);
  fill_random(go);
  Tensor4 gx = make_tensor(dt, N, C, H, W, out_cl ? Layout::kNHWC : Layout::kNCHW);
  LrnParams b = p;
  b.grad_output = go.data(), b.output = gx.data();
  std::memcpy(b.grad_output_strides, go.strides, sizeof(b.grad_output_strides));
  ++g_checks;
  if (launch_local_response_norm_backward(b, dt, nullptr) != cudaSuccess) { ++g_failures; return; }
  const double beta = l.beta, coef = 2.0 * l.alpha / l.size * l.beta;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const double s = lrn_scale_ref(x, n, c, h, w, l);
          const double want = x.get(n, c, h, w) * std::pow(s, -beta);
          expect_close("lrn", name, y.get(n, c, h, w), want, tolerance(dt, want));
          double cross = 0, mag = 0;
          for (int64_t t = c - (l.size - 1) / 2; t <= c + l.size / 2; ++t) {
            if (t < 0 || t >= C) continue;
            const double term = double(go.get(n, t, h, w)) * x.get(n, t, h, w) * std::pow(lrn_scale_ref(x, n, t, h, w, l), -beta - 1);
            cross += term, mag += std::fabs(term);
          }
          const double g0 = go.get(n, c, h, w) * std::pow(s, -beta);
          const double gwant = g0 - coef * x.get(n, c, h, w) * cross;
          // fp32 sums of terms of both signs: scale the tolerance by the magnitudes involved
          const double scale = std::fabs(g0) + coef * std::fabs(x.get(n, c, h, w)) * mag;
          expect_close("lrn grad", name, gx.get(n, c, h, w), gwant, tolerance(dt, scale));
        }
}

void run_lrn_max_pool(const PoolCase& pc, LrnCoefficients l, bool pool_first, DType dt, Layout in_layout, bool out_cl,
                      bool force64) {
  const std::string name = std::string("lrn+max ") + (pool_first ? "pool-first " : "lrn-first ") + pc.name + "/" +
                           dtype_name(dt) + "/" + layout_name(in_layout) + (out_cl ? "->nhwc" : "->nchw") + (force64 ? "/i64" : "");
  const PoolWindow2d g = window_of(pc);
  const int64_t OH = g.h.out, OW = g.w.out;
  Tensor4 x = make_tensor(dt, pc.N, pc.C, pc.H, pc.W, in_layout);
  fill_random(x, -12, 12, 0.25f);
  Tensor4 y = make_tensor(dt, pc.N, pc.C, OH, OW, out_cl ? Layout::kNHWC : Layout::kNCHW);
  std::vector<int64_t> idx(size_t(pc.N * pc.C * OH * OW), -7);
  LrnMaxPoolParams p;
  p.input = x.data(), p.output = y.data(), p.indices = idx.data();
  p.N = pc.N, p.C = pc.C, p.window = g, p.lrn = l, p.pool_first = pool_first;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  p.channels_last = out_cl, p.force_int64 = force64;
  ++g_checks;
  if (launch_lrn_max_pool2d(p, dt, nullptr) != cudaSuccess) { ++g_failures; std::printf("FAIL %s: launch\n", name.c_str()); return; }
  auto pooled = [&](int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t& at) {
    double best = 0;
    at = -1;
    for (int64_t h : taps(g.h, false, oh))
      for (int64_t w : taps(g.w, false, ow)) {
        const double v = x.get(n, c, h, w);
        if (at < 0 || v > best) best = v, at = h * pc.W + w;
      }
    return best;
  };
  for (int64_t n = 0; n < pc.N; ++n)
    for (int64_t c = 0; c < pc.C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double want;
          int64_t at;
          if (pool_first) {
            const double m = pooled(n, c, oh, ow, at);
            double sum = 0;
            for (int64_t t = c - l.size / 2; t <= c + (l.size - 1) / 2; ++t) {
              int64_t unused;
              if (t >= 0 && t < pc.C) sum += std::pow(pooled(n, t, oh, ow, unused), 2);
            }
            want = m * std::pow(double(l.k) + double(l.alpha) / l.size * sum, -double(l.beta));
          } else {
            want = 0, at = -1;
            for (int64_t h : taps(g.h, false, oh))
              for (int64_t w : taps(g.w, false, ow)) {
                const double v = x.get(n, c, h, w) * std::pow(lrn_scale_ref(x, n, c, h, w, l), -double(l.beta));
                if (at < 0 || v > want) want = v, at = h * pc.W + w;
              }
          }
          expect_close("value", name, y.get(n, c, oh, ow), want, tolerance(dt, want));
          // Index: LRN-first maxima of near-equal normalized values may legitimately differ in
          // the last fp32 bit; check the chosen tap's value instead of its position there.
          const int64_t got = idx[size_t(dense_at(out_cl, pc.C, OH, OW, n, c, oh, ow))];
          ++g_checks;
          if (pool_first && got != at && ++g_failures <= 25)
            std::printf("FAIL %s [index]: got %ld want %ld\n", name.c_str(), long(got), long(at));
          if (!pool_first) {
            const double v = x.get(n, c, got / pc.W, got % pc.W) * std::pow(lrn_scale_ref(x, n, c, got / pc.W, got % pc.W, l), -double(l.beta));
            expect_close("index value", name, v, want, tolerance(DType::kFloat32, want));
          }
        }
}

}  // namespace

int main() {
  ck_emu::g_sm_count = 1;  // 16 blocks at most: the grid-stride loops are exercised too
  const DType dtypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  const LrnCoefficients alexnet{5, 1e-4f, 0.75f, 2.f}, strong{3, 2.f, 0.75f, 1.f}, even{4, 1.5f, 0.6f, 0.5f};
  for (DType dt : dtypes)
    for (Layout l : kInputLayouts) {
      const bool cl = l == Layout::kNHWC || l == Layout::kNHWCOffset2;
      run_lrn(2, 7, 3, 4, strong, dt, l, cl, false);
      run_lrn(1, 10, 2, 3, even, dt, l, !cl, false);
    }
  run_lrn(1, 12, 3, 3, alexnet, DType::kFloat32, Layout::kNHWC, true, true);
  // size 5 with a strong alpha: the backward's cross-channel term matters (register-window path)
  for (Layout l : {Layout::kNCHW, Layout::kNHWC, Layout::kSliced})
    run_lrn(2, 11, 2, 3, LrnCoefficients{5, 3.f, 0.75f, 1.f}, DType::kFloat32, l, l == Layout::kNHWC, false);
  run_lrn(1, 2, 3, 3, LrnCoefficients{7, 1.f, 0.75f, 1.f}, DType::kFloat32, Layout::kNCHW, false, false);  // window > C

  const PoolCase fused_cases[] = {
      {"3x3/2", 2, 9, 9, 9, 3, 3, 2, 2, 0, 0, 1, 1, false, false, 0, 0},
      {"3x3/2 pad1 ceil", 1, 6, 8, 7, 3, 3, 2, 2, 1, 1, 1, 1, true, false, 0, 0},
  };
  for (DType dt : dtypes)
    for (const PoolCase& pc : fused_cases)
      for (Layout l : {Layout::kNCHW, Layout::kNHWC, Layout::kSliced, Layout::kMisaligned})
        for (bool pool_first : {false, true}) run_lrn_max_pool(pc, strong, pool_first, dt, l, l == Layout::kNHWC, l == Layout::kSliced);
  run_lrn_max_pool(fused_cases[0], even, false, DType::kFloat32, Layout::kNCHW, false, false);
  run_lrn_max_pool(fused_cases[1], even, true, DType::kFloat32, Layout::kNHWC, true, false);
  return finish("run_lrn");
}
