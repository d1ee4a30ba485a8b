// Runs the real pooling and LRN kernels (csrc/kernels/pool, csrc/kernels/lrn) through their
// launchers on the CPU emulator and compares with float64 references written here from torch's
// definitions: values and indices exactly for max-pooling (ties keep the first tap, NaN wins),
// tolerances for averages and LRN. Inputs in every layout of emu_test.h (dense, channels_last,
// sliced, misaligned, expanded, 8-byte-aligned channels_last); outputs dense NCHW or NHWC; the
// 16-byte channel-vector paths, the 64-bit index path (forced) and adaptive windows. Test-only.
#include "emu_test.h"
#include "lrn/lrn.h"
#include "pool/pool.h"

#include <limits>

using namespace convkernels;
using namespace emu;

namespace {

constexpr Layout kInputLayouts[] = {Layout::kNCHW, Layout::kNHWC, Layout::kSliced, Layout::kMisaligned,
                                    Layout::kExpandedN, Layout::kNHWCOffset2};
const char* layout_name(Layout l) {
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
int64_t dense_at(bool cl, int64_t C, int64_t Y, int64_t X, int64_t n, int64_t c, int64_t y, int64_t x) {
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

PoolWindow2d window_of(const PoolCase& pc) {
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
std::vector<int64_t> taps(const PoolAxis& a, bool adaptive, int64_t o) {
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

void fill_pool_input(Tensor4& x, bool with_nan) {
  fill_random(x, -6, 6, 0.25f);  // few distinct values: ties are common, tie-breaking is tested
  if (with_nan) {
    x.set(0, 0, 1, 1, std::numeric_limits<float>::quiet_NaN());
    if (x.sizes[1] > 2) x.set(x.sizes[0] - 1, 2, x.sizes[2] - 1, 0, std::numeric_limits<float>::quiet_NaN());
  }
}

// ---------------------------------------------------------------------------------- max pool
void run_max_pool(const PoolCase& pc, DType dt, Layout in_layout, bool out_cl, bool force64) {
  const std::string name = std::string("max ") + pc.name + "/" + dtype_name(dt) + "/" + layout_name(in_layout) +
                           (out_cl ? "->nhwc" : "->nchw") + (force64 ? "/i64" : "");
  const PoolWindow2d g = window_of(pc);
  const int64_t OH = g.h.out, OW = g.w.out;
  Tensor4 x = make_tensor(dt, pc.N, pc.C, pc.H, pc.W, in_layout);
  fill_pool_input(x, true);
  Tensor4 y = make_tensor(dt, pc.N, pc.C, OH, OW, out_cl ? Layout::kNHWC : Layout::kNCHW);
  std::vector<int64_t> idx(size_t(pc.N * pc.C * OH * OW), -7);
  Pool2dParams p;
  p.input = x.data(), p.output = y.data(), p.indices = idx.data();
  p.N = pc.N, p.C = pc.C, p.window = g;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  p.channels_last = out_cl, p.force_int64 = force64;
  ++g_checks;
  if (launch_max_pool2d(p, dt, nullptr) != cudaSuccess) { ++g_failures; std::printf("FAIL %s: launch\n", name.c_str()); return; }
  // Reference values and indices; then the backward against a scatter through the indices.
  Tensor4 go = make_tensor(dt, pc.N, pc.C, OH, OW, in_layout == Layout::kNHWC ? Layout::kNHWC : Layout::kSliced);
  fill_random(go, -8, 8, 0.125f);
  std::vector<double> gx_ref(size_t(pc.N * pc.C * pc.H * pc.W), 0.0);
  for (int64_t n = 0; n < pc.N; ++n)
    for (int64_t c = 0; c < pc.C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double best = 0;
          int64_t at = -1;
          for (int64_t h : taps(g.h, g.adaptive, oh))
            for (int64_t w : taps(g.w, g.adaptive, ow)) {
              const double v = x.get(n, c, h, w);
              if (at < 0 || v > best || std::isnan(v)) best = v, at = h * pc.W + w;
            }
          expect_close("value", name, y.get(n, c, oh, ow), best, 0.0);
          const int64_t got = idx[size_t(dense_at(out_cl, pc.C, OH, OW, n, c, oh, ow))];
          ++g_checks;
          if (got != at && ++g_failures <= 25)
            std::printf("FAIL %s [index] at (%ld,%ld,%ld,%ld): got %ld want %ld\n", name.c_str(), long(n), long(c),
                        long(oh), long(ow), long(got), long(at));
          gx_ref[size_t(((n * pc.C + c) * pc.H) * pc.W + at)] += go.get(n, c, oh, ow);
        }
  // Backward: gather through the indices the forward wrote (indices laid out like y).
  Tensor4 gx = make_tensor(dt, pc.N, pc.C, pc.H, pc.W, out_cl ? Layout::kNHWC : Layout::kNCHW);
  Pool2dBackwardParams b;
  b.grad_output = go.data(), b.indices = idx.data(), b.grad_input = gx.data();
  b.N = pc.N, b.C = pc.C, b.window = g;
  std::memcpy(b.grad_output_strides, go.strides, sizeof(b.grad_output_strides));
  const int64_t is[4] = {out_cl ? OH * OW * pc.C : pc.C * OH * OW, out_cl ? 1 : OH * OW, out_cl ? OW * pc.C : OW,
                         out_cl ? pc.C : 1};
  std::memcpy(b.indices_strides, is, sizeof(is));
  b.channels_last = out_cl, b.force_int64 = force64;
  ++g_checks;
  if (launch_max_pool2d_backward(b, dt, nullptr) != cudaSuccess) { ++g_failures; std::printf("FAIL %s: bwd launch\n", name.c_str()); return; }
  for (int64_t n = 0; n < pc.N; ++n)
    for (int64_t c = 0; c < pc.C; ++c)
      for (int64_t h = 0; h < pc.H; ++h)
        for (int64_t w = 0; w < pc.W; ++w) {
          const double want = gx_ref[size_t(((n * pc.C + c) * pc.H + h) * pc.W + w)];
          expect_close("grad", name, gx.get(n, c, h, w), want, tolerance(dt, want));
        }
}

// ---------------------------------------------------------------------------------- avg pool
double avg_divisor_ref(const PoolCase& pc, const PoolWindow2d& g, int64_t oh, int64_t ow) {
  if (pc.adaptive) return double(taps(g.h, true, oh).size() * taps(g.w, true, ow).size());
  return double(avg_pool_divisor(g, oh, ow, pc.count_include_pad, pc.divisor_override));
}

void run_avg_pool(const PoolCase& pc, DType dt, Layout in_layout, bool out_cl, bool force64) {
  const std::string name = std::string("avg ") + pc.name + "/" + dtype_name(dt) + "/" + layout_name(in_layout) +
                           (out_cl ? "->nhwc" : "->nchw") + (force64 ? "/i64" : "");
  const PoolWindow2d g = window_of(pc);
  const int64_t OH = g.h.out, OW = g.w.out;
  Tensor4 x = make_tensor(dt, pc.N, pc.C, pc.H, pc.W, in_layout);
  fill_random(x);
  Tensor4 y = make_tensor(dt, pc.N, pc.C, OH, OW, out_cl ? Layout::kNHWC : Layout::kNCHW);
  Pool2dParams p;
  p.input = x.data(), p.output = y.data();
  p.N = pc.N, p.C = pc.C, p.window = g;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  p.channels_last = out_cl, p.force_int64 = force64;
  p.count_include_pad = pc.count_include_pad, p.divisor_override = pc.divisor_override;
  ++g_checks;
  if (launch_avg_pool2d(p, dt, nullptr) != cudaSuccess) { ++g_failures; std::printf("FAIL %s: launch\n", name.c_str()); return; }
  Tensor4 go = make_tensor(dt, pc.N, pc.C, OH, OW, in_layout);
  fill_random(go, -8, 8, 0.125f);
  std::vector<double> gx_ref(size_t(pc.N * pc.C * pc.H * pc.W), 0.0);
  for (int64_t n = 0; n < pc.N; ++n)
    for (int64_t c = 0; c < pc.C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double div = avg_divisor_ref(pc, g, oh, ow);
          double sum = 0;
          for (int64_t h : taps(g.h, g.adaptive, oh))
            for (int64_t w : taps(g.w, g.adaptive, ow)) {
              sum += x.get(n, c, h, w);
              gx_ref[size_t(((n * pc.C + c) * pc.H + h) * pc.W + w)] += go.get(n, c, oh, ow) / div;
            }
          expect_close("value", name, y.get(n, c, oh, ow), sum / div, tolerance(dt, sum / div));
        }
  Tensor4 gx = make_tensor(dt, pc.N, pc.C, pc.H, pc.W, out_cl ? Layout::kNHWC : Layout::kNCHW);
  Pool2dBackwardParams b;
  b.grad_output = go.data(), b.grad_input = gx.data();
  b.N = pc.N, b.C = pc.C, b.window = g;
  std::memcpy(b.grad_output_strides, go.strides, sizeof(b.grad_output_strides));
  b.channels_last = out_cl, b.force_int64 = force64;
  b.count_include_pad = pc.count_include_pad, b.divisor_override = pc.divisor_override;
  ++g_checks;
  if (launch_avg_pool2d_backward(b, dt, nullptr) != cudaSuccess) { ++g_failures; std::printf("FAIL %s: bwd launch\n", name.c_str()); return; }
  for (int64_t n = 0; n < pc.N; ++n)
    for (int64_t c = 0; c < pc.C; ++c)
      for (int64_t h = 0; h < pc.H; ++h)
        for (int64_t w = 0; w < pc.W; ++w) {
          const double want = gx_ref[size_t(((n * pc.C + c) * pc.H + h) * pc.W + w)];
          expect_close("grad", name, gx.get(n, c, h, w), want, tolerance(dt, want));
        }
}

// ---------------------------------------------------------------------------------- unpool
void run_unpool(DType dt, Layout in_layout, bool force64) {
  const std::string name = std::string("unpool/") + dtype_name(dt) + "/" + layout_name(in_layout) + (force64 ? "/i64" : "");
  const int N = 2, C = 5, H = 4, W = 3, OH = 9, OW = 7;
  Tensor4 x = make_tensor(dt, N, C, H, W, in_layout == Layout::kExpandedN ? Layout::kNCHW : in_layout);
  fill_random(x);
  // Distinct switches per plane (as max_pool2d produces for non-overlapping windows).
  std::vector<int64_t> idx(size_t(N * C * H * W));
  for (int64_t i = 0; i < int64_t(idx.size()); ++i) idx[size_t(i)] = (i * 5 + i / (H * W)) % (H * W) * 5 % (OH * OW);
  for (int64_t plane = 0; plane < N * C; ++plane)  // (i*5 mod 12)*5 mod 63 is injective on 0..11
    for (int64_t i = 0; i < H * W; ++i) idx[size_t(plane * H * W + i)] = ((i * 5) % (H * W)) * 5 + plane % 3;
  Tensor4 y = make_tensor(dt, N, C, OH, OW, in_layout == Layout::kNHWC ? Layout::kNHWC : Layout::kNCHW);
  std::memset(y.data(), 0, size_t(N * C * OH * OW) * y.esize());
  Unpool2dParams p;
  p.source = x.data(), p.indices = idx.data(), p.dest = y.data();
  p.N = N, p.C = C, p.H = H, p.W = W, p.OH = OH, p.OW = OW;
  std::memcpy(p.source_strides, x.strides, sizeof(p.source_strides));
  const int64_t is[4] = {C * H * W, H * W, W, 1};
  std::memcpy(p.indices_strides, is, sizeof(is));
  std::memcpy(p.dest_strides, y.strides, sizeof(p.dest_strides));
  p.force_int64 = force64;
  ++g_checks;
  if (launch_max_unpool2d(p, dt, nullptr) != cudaSuccess) { ++g_failures; return; }
  std::vector<double> want(size_t(N * C * OH * OW), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) want[size_t((n * C + c) * OH * OW + idx[size_t((n * C + c) * H * W + i)])] = x.get(n, c, i / W, i % W);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t o = 0; o < OH * OW; ++o) expect_close("unpool", name, y.get(n, c, o / OW, o % OW), want[size_t((n * C + c) * OH * OW + o)], 0.0);
  // Backward: gather of a grad_output at the switches.
  Tensor4 go = make_tensor(dt, N, C, OH, OW, in_layout);
  fill_random(go);
  Tensor4 gx = make_tensor(dt, N, C, H, W, in_layout == Layout::kNHWC ? Layout::kNHWC : Layout::kNCHW);
  Unpool2dParams b = p;
  b.source = go.data(), b.dest = gx.data();
  std::memcpy(b.source_strides, go.strides, sizeof(b.source_strides));
  std::memcpy(b.dest_strides, gx.strides, sizeof(b.dest_strides));
  ++g_checks;
  if (launch_max_unpool2d_backward(b, dt, nullptr) != cudaSuccess) { ++g_failures; return; }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) {
        const int64_t o = idx[size_t((n * C + c) * H * W + i)];
        expect_close("unpool grad", name, gx.get(n, c, i / W, i % W), go.get(n, c, o / OW, o % OW), 0.0);
      }
}

// ---------------------------------------------------------------------------------- LRN
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
  // name, N C H W, kh kw sh sw ph pw dh dw, ceil, adaptive, OH OW
  const PoolCase max_cases[] = {
      {"3x3/2 alexnet-like", 2, 8, 13, 13, 3, 3, 2, 2, 0, 0, 1, 1, false, false, 0, 0},
      {"3x3/2 pad1 ceil (googlenet)", 1, 16, 12, 11, 3, 3, 2, 2, 1, 1, 1, 1, true, false, 0, 0},
      {"3x3/2 ceil drops last window", 1, 8, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, true, false, 0, 0},
      {"2x3/1x2 dil 2x1", 2, 3, 9, 10, 2, 3, 1, 2, 1, 1, 2, 1, false, false, 0, 0},
      {"adaptive 7x5 -> 3x4", 2, 8, 7, 5, 0, 0, 0, 0, 0, 0, 0, 0, false, true, 3, 4},
      {"adaptive 3x2 -> 5x5 (upsampling)", 1, 8, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, false, true, 5, 5},
  };
  for (DType dt : dtypes)
    for (const PoolCase& pc : max_cases)
      for (Layout l : kInputLayouts) run_max_pool(pc, dt, l, l == Layout::kNHWC || l == Layout::kNHWCOffset2, false);
  run_max_pool(max_cases[0], DType::kFloat16, Layout::kNHWC, true, true);
  run_max_pool(max_cases[1], DType::kFloat32, Layout::kSliced, false, true);
  run_max_pool(max_cases[4], DType::kBFloat16, Layout::kNCHW, true, true);

  PoolCase avg_cases[] = {
      {"2x2/2 densenet transition", 2, 8, 8, 9, 2, 2, 2, 2, 0, 0, 1, 1, false, false, 0, 0},
      {"3x3/2 pad1 ceil include-pad", 1, 8, 11, 10, 3, 3, 2, 2, 1, 1, 1, 1, true, false, 0, 0},
      {"3x3/2 pad1 ceil exclude-pad", 1, 8, 11, 10, 3, 3, 2, 2, 1, 1, 1, 1, true, false, 0, 0, false},
      {"3x2/1 divisor 5", 2, 3, 6, 7, 3, 2, 1, 1, 1, 1, 1, 1, false, false, 0, 0, true, 5},
      {"adaptive global 7x7 -> 1", 2, 16, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, false, true, 1, 1},
      {"adaptive 13x11 -> 4x3", 1, 8, 13, 11, 0, 0, 0, 0, 0, 0, 0, 0, false, true, 4, 3},
  };
  for (DType dt : dtypes)
    for (const PoolCase& pc : avg_cases)
      for (Layout l : kInputLayouts) run_avg_pool(pc, dt, l, l == Layout::kNHWC || l == Layout::kNHWCOffset2, false);
  run_avg_pool(avg_cases[1], DType::kFloat16, Layout::kNHWC, true, true);
  run_avg_pool(avg_cases[5], DType::kFloat32, Layout::kNCHW, false, true);

  for (DType dt : dtypes)
    for (Layout l : {Layout::kNCHW, Layout::kNHWC, Layout::kSliced, Layout::kMisaligned}) run_unpool(dt, l, l == Layout::kSliced);

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
  return finish("run_pool");
}
