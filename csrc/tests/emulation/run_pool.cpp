// Runs the real pooling kernels (csrc/kernels/pool) through their launchers on the CPU emulator
// and compares with float64 references written here from torch's definitions: values and indices
// exactly for max-pooling (ties keep the first tap, NaN wins), tolerances for averages. Inputs in
// every layout of emu_test.h (dense, channels_last, sliced, misaligned, expanded, 8-byte-aligned
// channels_last); outputs dense NCHW or NHWC; the 16-byte channel-vector paths, the 64-bit index
// path (forced) and adaptive windows. Test-only.
#include "emu_test.h"
#include "pool/pool.h"
#include "pool_windows.h"

#include <limits>

using namespace convkernels;
using namespace emu;

namespace {

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

  return finish("run_pool");
}
