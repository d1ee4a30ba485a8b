// Host-only checks of the sm_90a CUTLASS conv's setup (no GPU):
//   g++ -std=c++17 -I csrc/kernels -isystem $CUDA/include [-isystem $CUDA/include/cccl
//       -isystem <cutlass>/include] csrc/tests/test_conv_sm90_setup.cpp && ./a.out
// or `python tools/check_kernels.py --host-tests`, or tests/test_kernel_sass_sm90.py.
// conv2d_sm90_refusal's verdicts, the mapping of Conv2dParams onto CUTLASS's (n,h,w,c) /
// (k,r,s,c) arrays, paddings, strides and epilogue scalars; and, when the CUTLASS headers are
// on the include path, that CUTLASS's own ConvProblemShape built from it has our output
// extents, its GEMM view, and im2col corners inside the limits the predicate promises.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include "host_expect.h"
#include "conv/sm90/conv_sm90_setup.h"

#if __has_include("cutlass/conv/convnd_problem_shape.hpp")
#define CK_HAVE_CUTLASS 1
#include "conv/sm90/conv_sm90_problem.h"
#include "cutlass/conv/collective/detail.hpp"
#include "cutlass/conv/detail.hpp"
#endif

using namespace convkernels;
using namespace convkernels::conv::sm90;

namespace {

using host_test::g_failures;

void* fake_ptr(uintptr_t offset) { return reinterpret_cast<void*>(uintptr_t(1) << 20 | offset); }

int64_t out_extent(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

void set_nhwc(int64_t (&st)[4], int64_t C, int64_t H, int64_t W) {  // logical n, c, h, w
  st[0] = H * W * C, st[1] = 1, st[2] = W * C, st[3] = C;
}
void set_nchw(int64_t (&st)[4], int64_t C, int64_t H, int64_t W) {
  st[0] = C * H * W, st[1] = H * W, st[2] = W, st[3] = 1;
}

// A dense channels_last problem the kernel takes.
Conv2dParams make_params(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t stride,
                         int64_t pad, int64_t dil, bool residual = false, bool relu = false) {
  Conv2dParams p;
  p.N = N, p.C = C, p.H = H, p.W = W, p.K = K, p.R = R, p.S = S;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dil_h = p.dil_w = dil;
  p.P = out_extent(H, R, stride, pad, dil);
  p.Q = out_extent(W, S, stride, pad, dil);
  p.input = fake_ptr(0);
  p.weight = fake_ptr(0x100000);
  p.output = fake_ptr(0x200000);
  p.residual = residual ? fake_ptr(0x300000) : nullptr;
  set_nhwc(p.input_strides, C, H, W);
  set_nhwc(p.weight_strides, C, R, S);  // KRSC = the NHWC order of [K, C, R, S]
  set_nhwc(p.output_strides, K, p.P, p.Q);
  if (residual) set_nhwc(p.residual_strides, K, p.P, p.Q);
  p.relu = relu;
  return p;
}

bool refused_for(const Conv2dParams& p, const char* why_part, DType dtype = DType::kFloat16, int64_t groups = 1) {
  const char* why = conv2d_sm90_refusal(p, dtype, groups);
  return !conv2d_sm90_supported(p, dtype, groups) && std::strstr(why, why_part) != nullptr;
}

void test_verdicts() {
  const Conv2dParams ok = make_params(2, 64, 56, 56, 128, 3, 3, 1, 1, 1, true, true);
  EXPECT(conv2d_sm90_supported(ok, DType::kFloat16), "%s", conv2d_sm90_refusal(ok, DType::kFloat16));
  EXPECT(conv2d_sm90_supported(ok, DType::kBFloat16), "%s", conv2d_sm90_refusal(ok, DType::kBFloat16));
  EXPECT(refused_for(ok, "dtype", DType::kFloat32), "fp32");
  EXPECT(refused_for(ok, "groups", DType::kFloat16, 2), "groups 2");

  Conv2dParams p = make_params(2, 12, 56, 56, 128, 3, 3, 1, 1, 1);
  EXPECT(refused_for(p, "C is not"), "C = 12");
  p = make_params(2, 64, 56, 56, 20, 3, 3, 1, 1, 1);
  EXPECT(refused_for(p, "K is not"), "K = 20");

  const char* names[] = {"input", "weight", "output", "residual"};
  for (int which = 0; which < 4; ++which) {
    for (uintptr_t off : {2u, 8u}) {
      p = ok;
      const void** slots[] = {&p.input, &p.weight, const_cast<const void**>(&p.output), &p.residual};
      *slots[which] = static_cast<const char*>(*slots[which]) + off;
      EXPECT(refused_for(p, "16-byte aligned"), "%s misaligned by %d", names[which], int(off));
    }
  }
  p = ok;
  p.scale = reinterpret_cast<const float*>(static_cast<const char*>(fake_ptr(0x400000)) + 2);
  EXPECT(refused_for(p, "float-aligned"), "scale misaligned");
  p = ok;
  p.scale = reinterpret_cast<const float*>(fake_ptr(0x400004));  // float-aligned: fine
  EXPECT(conv2d_sm90_supported(p, DType::kFloat16), "%s", conv2d_sm90_refusal(p, DType::kFloat16));

  p = ok;
  set_nchw(p.input_strides, p.C, p.H, p.W);
  EXPECT(refused_for(p, "input is not dense NHWC"), "NCHW input");
  p = ok;
  set_nchw(p.output_strides, p.K, p.P, p.Q);
  EXPECT(refused_for(p, "output is not dense NHWC"), "NCHW output");
  p = ok;
  set_nchw(p.residual_strides, p.K, p.P, p.Q);
  EXPECT(refused_for(p, "residual is not dense NHWC"), "NCHW residual");
  p = ok;
  p.weight_strides[0] = p.C * p.R * p.S, p.weight_strides[1] = p.R * p.S, p.weight_strides[2] = p.S,
  p.weight_strides[3] = 1;  // KCRS
  EXPECT(refused_for(p, "weight is not dense KRSC"), "KCRS weight");
  p = ok;
  p.input_strides[0] += 8;  // padded batch stride: NHWC but not dense
  EXPECT(refused_for(p, "input is not dense NHWC"), "batch-padded input");

  // A size-1 batch may carry any stride (torch does not normalize it).
  p = make_params(1, 64, 8, 8, 64, 3, 3, 1, 1, 1);
  p.input_strides[0] = 1;
  EXPECT(conv2d_sm90_supported(p, DType::kFloat16), "%s", conv2d_sm90_refusal(p, DType::kFloat16));

  // TMA im2col limits.
  EXPECT(conv2d_sm90_supported(make_params(1, 64, 64, 64, 64, 3, 3, 8, 1, 1), DType::kFloat16), "stride 8");
  EXPECT(refused_for(make_params(1, 64, 64, 64, 64, 3, 3, 9, 1, 1), "stride outside"), "stride 9");
  EXPECT(conv2d_sm90_supported(make_params(1, 64, 8, 8, 64, 3, 3, 1, 128, 1), DType::kFloat16), "pad 128");
  EXPECT(refused_for(make_params(1, 64, 8, 8, 64, 3, 3, 1, 129, 1), "corner"), "pad 129");
  EXPECT(conv2d_sm90_supported(make_params(1, 64, 300, 300, 64, 3, 3, 1, 0, 64), DType::kFloat16),
         "(R-1)*dil = 128, pad 0: upper corner -128");
  EXPECT(refused_for(make_params(1, 64, 300, 300, 64, 3, 3, 1, 0, 65), "corner"), "upper corner -130");
  EXPECT(refused_for(make_params(1, 64, 600, 600, 64, 3, 3, 1, 100, 128), "exceeds 254"), "(R-1)*dil = 256");
  p = ok;
  p.P += 1;
  set_nhwc(p.output_strides, p.K, p.P, p.Q);
  set_nhwc(p.residual_strides, p.K, p.P, p.Q);
  EXPECT(refused_for(p, "P/Q differ"), "P off by one");
  p = ok;
  p.N = int64_t(1) << 31;
  EXPECT(refused_for(p, "32 bits"), "N = 2^31");
  p = make_params(1 << 12, 64, 1024, 1024, 64, 1, 1, 1, 0, 1);
  EXPECT(refused_for(p, "N*P*Q"), "N*P*Q = 2^32");
}

void test_mapping() {
  const Conv2dParams p = make_params(3, 32, 17, 23, 48, 5, 3, 2, 2, 1, true, false);
  const Sm90ConvSetup s = make_sm90_conv_setup(p);
  const int act[4] = {3, 17, 23, 32}, flt[4] = {48, 5, 3, 32};
  const int64_t act_st[4] = {17 * 23 * 32, 23 * 32, 32, 1}, flt_st[4] = {5 * 3 * 32, 3 * 32, 32, 1};
  for (int i = 0; i < 4; ++i) {
    EXPECT(s.shape_act[i] == act[i] && s.stride_act[i] == act_st[i], "act[%d] %d/%lld", i, s.shape_act[i],
           (long long)s.stride_act[i]);
    EXPECT(s.shape_flt[i] == flt[i] && s.stride_flt[i] == flt_st[i], "flt[%d] %d/%lld", i, s.shape_flt[i],
           (long long)s.stride_flt[i]);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT(s.lower_padding[i] == 2 && s.upper_padding[i] == 2, "padding[%d]", i);
    EXPECT(s.traversal_stride[i] == 2 && s.dilation[i] == 1, "stride/dilation[%d]", i);
  }
  EXPECT(s.stride_out_qpn[0] == 48 && s.stride_out_qpn[1] == p.Q * 48 && s.stride_out_qpn[2] == p.P * p.Q * 48,
         "output strides %lld %lld %lld", (long long)s.stride_out_qpn[0], (long long)s.stride_out_qpn[1],
         (long long)s.stride_out_qpn[2]);
  EXPECT(s.beta == 1.f && std::isinf(s.lower_bound) && s.lower_bound < 0, "residual, no relu");

  Conv2dParams q = make_params(1, 8, 4, 4, 8, 1, 1, 1, 0, 1, false, true);
  q.input_strides[0] = 3;  // size-1 batch with an odd stride: the mapping writes the dense one
  const Sm90ConvSetup t = make_sm90_conv_setup(q);
  EXPECT(t.beta == 0.f && t.lower_bound == 0.f, "no residual, relu");
  EXPECT(t.stride_act[0] == 4 * 4 * 8, "canonical batch stride, got %lld", (long long)t.stride_act[0]);

  Conv2dParams a = make_params(2, 16, 31, 20, 24, 3, 5, 1, 0, 1);
  a.stride_h = 3, a.stride_w = 1, a.pad_h = 1, a.pad_w = 4, a.dil_h = 2, a.dil_w = 3;
  a.P = out_extent(31, 3, 3, 1, 2), a.Q = out_extent(20, 5, 1, 4, 3);
  set_nhwc(a.output_strides, a.K, a.P, a.Q);
  EXPECT(conv2d_sm90_supported(a, DType::kBFloat16), "%s", conv2d_sm90_refusal(a, DType::kBFloat16));
  const Sm90ConvSetup u = make_sm90_conv_setup(a);
  EXPECT(u.lower_padding[0] == 1 && u.lower_padding[1] == 4 && u.upper_padding[0] == 1 && u.upper_padding[1] == 4,
         "asymmetric h/w padding");
  EXPECT(u.traversal_stride[0] == 3 && u.traversal_stride[1] == 1 && u.dilation[0] == 2 && u.dilation[1] == 3,
         "h/w stride and dilation order");
}

#ifdef CK_HAVE_CUTLASS
// CUTLASS's own view of what we hand it, over random problems the predicate accepts.
void test_against_cutlass() {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return int64_t(lo + int(rng() % unsigned(hi - lo + 1))); };
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Conv2dParams p = make_params(pick(1, 4), 8 * pick(1, 8), pick(1, 70), pick(1, 70), 8 * pick(1, 8), pick(1, 7),
                                 pick(1, 7), 1, 0, 1);
    p.stride_h = pick(1, 9), p.stride_w = pick(1, 9);
    p.pad_h = pick(0, 140), p.pad_w = pick(0, 4);
    p.dil_h = pick(1, 40), p.dil_w = pick(1, 3);
    p.P = out_extent(p.H, p.R, p.stride_h, p.pad_h, p.dil_h);
    p.Q = out_extent(p.W, p.S, p.stride_w, p.pad_w, p.dil_w);
    if (p.P < 1 || p.Q < 1) continue;
    set_nhwc(p.output_strides, p.K, p.P, p.Q);
    const bool ours = conv2d_sm90_supported(p, DType::kFloat16);
    const Sm90ConvSetup s = make_sm90_conv_setup(p);
    const Fprop2dShape shape = make_problem_shape(s);
    // CUTLASS's im2col limits (CollectiveConv::can_implement), recomputed from its helpers.
    const auto lower = cutlass::conv::collective::detail::compute_lower_corner_whd(shape);
    const auto upper = cutlass::conv::collective::detail::compute_upper_corner_whd(shape);
    bool theirs = true;
    for (int i = 0; i < 2; ++i) {
      theirs &= shape.lower_padding[i] >= 0 && shape.lower_padding[i] <= 256;
      theirs &= lower[i] >= -128 && lower[i] <= 127 && upper[i] >= -128 && upper[i] <= 127;
      theirs &= (shape.shape_B[i + 1] - 1) * shape.dilation[i] < 255;
      theirs &= shape.traversal_stride[i] <= 8;  // the TMA descriptor's elementStrides bound
    }
    EXPECT(ours == theirs, "verdicts differ (ours %d: %s) H=%lld R=%lld stride=%lld pad=%lld dil=%lld", int(ours),
           conv2d_sm90_refusal(p, DType::kFloat16), (long long)p.H, (long long)p.R, (long long)p.stride_h,
           (long long)p.pad_h, (long long)p.dil_h);
    if (!ours) continue;
    ++accepted;
    // Output (shape_C = n, p, q, k) and its packed strides, as CUTLASS derives them.
    const int64_t want_c[4] = {p.N, p.P, p.Q, p.K};
    for (int i = 0; i < 4; ++i) EXPECT(shape.shape_C[i] == want_c[i], "shape_C[%d] = %d", i, shape.shape_C[i]);
    EXPECT(shape.stride_C[0] == s.stride_out_qpn[2] && shape.stride_C[1] == s.stride_out_qpn[1] &&
               shape.stride_C[2] == s.stride_out_qpn[0] && shape.stride_C[3] == 1,
           "stride_C vs epilogue strides");
    for (int i = 0; i < 4; ++i) {
      EXPECT(shape.shape_A[i] == s.shape_act[i] && shape.stride_A[i] == s.stride_act[i], "A[%d]", i);
      EXPECT(shape.shape_B[i] == s.shape_flt[i] && shape.stride_B[i] == s.stride_flt[i], "B[%d]", i);
    }
    // GEMM view: M = (Q, P, N), N = K, K = (C, S, R).
    const auto mnkl = cutlass::conv::detail::get_transformed_problem_shape_MNKL(shape);
    const auto m = cute::get<0>(mnkl);
    const auto k = cute::get<2>(mnkl);
    EXPECT(cute::get<0>(m) == p.Q && cute::get<1>(m) == p.P && cute::get<2>(m) == p.N, "M mode");
    EXPECT(int64_t(cute::get<1>(mnkl)) == p.K, "N mode");
    EXPECT(cute::get<0>(k) == p.C && cute::get<1>(k) == p.S && cute::get<2>(k) == p.R, "K mode");
  }
  EXPECT(accepted > 300, "only %d random problems accepted", accepted);
  std::printf("cutlass cross-check: %d accepted problems\n", accepted);
}
#endif

}  // namespace

int main() {
  test_verdicts();
  test_mapping();
#ifdef CK_HAVE_CUTLASS
  test_against_cutlass();
#else
  std::printf("CUTLASS headers not on the include path: ConvProblemShape cross-check skipped\n");
#endif
  if (g_failures) {
    std::printf("%d failure(s)\n", g_failures);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
