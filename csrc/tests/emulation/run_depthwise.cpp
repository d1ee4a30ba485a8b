// Runs the grouped / depthwise kernels (csrc/kernels/depthwise/) through their public launchers on
// the CPU emulator and compares with float64 references: the forward over groups 2..C, channel
// multipliers 1 and 2, kernel sizes 3/5/7 (specialized) and 1/2/4 (generic), strides, dilation,
// every layout of emu_test.h and the full epilogue; the depthwise input and weight gradients, and
// the weight gradient's bitwise determinism across two runs. Test-only.
#include "emu_test.h"
#include "depthwise/depthwise.h"

using namespace convkernels;
using namespace emu;

namespace {

struct Geometry {
  int N, C, H, W, K, R, S, groups, sh, sw, ph, pw, dh, dw;
  int64_t P() const { return conv_output_size(H, R, sh, ph, dh); }
  int64_t Q() const { return conv_output_size(W, S, sw, pw, dw); }
};

// Sums of products of quantized values are exact in fp32 up to 2^24, so the only error left
// is one rounding of the output (plus fp16/bf16 operand storage, exact for quarter steps).
double reference_conv(const Geometry& g, const Tensor4& x, const Tensor4& w, int n, int k, int64_t p, int64_t q) {
  const int Cg = g.C / g.groups, Kg = g.K / g.groups;
  double acc = 0;
  for (int c = 0; c < Cg; ++c)
    for (int r = 0; r < g.R; ++r)
      for (int s = 0; s < g.S; ++s) {
        const int64_t h = p * g.sh - g.ph + r * g.dh, ww = q * g.sw - g.pw + s * g.dw;
        if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
        acc += double(x.get(n, (k / Kg) * Cg + c, h, ww)) * w.get(k, c, r, s);
      }
  return acc;
}

void run_forward(const char* label, DType dtype, const Geometry& g, Layout in_layout, Layout w_layout,
                 Layout out_layout, bool scale_shift, bool residual_on, bool relu, bool tensor_cores = false) {
  const std::string name = std::string(label) + "/" + dtype_name(dtype);
  const int64_t P = g.P(), Q = g.Q();
  Tensor4 x = make_tensor(dtype, g.N, g.C, g.H, g.W, in_layout);
  Tensor4 w = make_tensor(dtype, g.K, g.C / g.groups, g.R, g.S, w_layout);
  Tensor4 res = make_tensor(dtype, g.N, g.K, P, Q, out_layout);
  Tensor4 out = make_tensor(dtype, g.N, g.K, P, Q, out_layout);
  fill_random(x);
  fill_random(w, -2, 2);
  fill_random(res, -8, 8);
  std::vector<float> scale(g.K), shift(g.K);
  for (int k = 0; k < g.K; ++k) scale[k] = 0.5f + 0.0625f * float(k % 9), shift[k] = -1.f + 0.25f * float(k % 7);
  Conv2dParams p;
  p.input = x.data();
  p.weight = w.data();
  p.scale = scale_shift ? scale.data() : nullptr;
  p.shift = scale_shift ? shift.data() : nullptr;
  p.residual = residual_on ? res.data() : nullptr;
  p.output = out.data();
  p.N = g.N, p.C = g.C, p.H = g.H, p.W = g.W, p.K = g.K, p.R = g.R, p.S = g.S, p.P = P, p.Q = Q;
  p.stride_h = g.sh, p.stride_w = g.sw, p.pad_h = g.ph, p.pad_w = g.pw, p.dil_h = g.dh, p.dil_w = g.dw;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  std::memcpy(p.weight_strides, w.strides, sizeof(p.weight_strides));
  std::memcpy(p.residual_strides, res.strides, sizeof(p.residual_strides));
  std::memcpy(p.output_strides, out.strides, sizeof(p.output_strides));
  p.relu = relu;
  ++g_checks;
  if (tensor_cores && !conv2d_grouped_tc_supported(p, g.groups, dtype)) {
    ++g_failures;
    std::printf("FAIL %s: conv2d_grouped_tc_supported() said no\n", name.c_str());
    return;
  }
  const cudaError_t err = tensor_cores ? launch_conv2d_grouped_tc(p, g.groups, dtype, nullptr)
                                       : launch_conv2d_grouped_direct(p, g.groups, dtype, nullptr);
  if (err != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: launcher failed\n", name.c_str());
    return;
  }
  for (int n = 0; n < g.N; ++n)
    for (int k = 0; k < g.K; ++k)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t q = 0; q < Q; ++q) {
          double v = reference_conv(g, x, w, n, k, pp, q);
          if (scale_shift) v = v * scale[k] + shift[k];
          if (residual_on) v += res.get(n, k, pp, q);
          if (relu && v < 0) v = 0;
          expect_close("out", name, out.get(n, k, pp, q), v, tolerance(dtype, v));
        }
}

// The vectorized NHWC depthwise kernel: dense channels_last tensors, weight passed as [R, S, C].
void run_forward_vec(const char* label, DType dtype, const Geometry& g, bool scale_shift, bool residual_on, bool relu,
                     Layout layout = Layout::kNHWC) {
  const std::string name = std::string(label) + "/" + dtype_name(dtype);
  const int64_t P = g.P(), Q = g.Q();
  Tensor4 x = make_tensor(dtype, g.N, g.C, g.H, g.W, layout);
  Tensor4 w = make_tensor(dtype, g.K, 1, g.R, g.S, Layout::kNCHW);
  Tensor4 w_rsc = make_tensor(dtype, 1, g.K, g.R, g.S, Layout::kNHWC);  // [R][S][C] in memory
  Tensor4 res = make_tensor(dtype, g.N, g.K, P, Q, layout);
  Tensor4 out = make_tensor(dtype, g.N, g.K, P, Q, layout);
  fill_random(x);
  fill_random(w, -2, 2);
  fill_random(res, -8, 8);
  for (int k = 0; k < g.K; ++k)
    for (int r = 0; r < g.R; ++r)
      for (int s = 0; s < g.S; ++s) w_rsc.set(0, k, r, s, w.get(k, 0, r, s));
  std::vector<float> scale(g.K), shift(g.K);
  for (int k = 0; k < g.K; ++k) scale[k] = 0.75f + 0.125f * float(k % 5), shift[k] = -0.5f + 0.25f * float(k % 3);
  Conv2dParams p;
  p.input = x.data();
  p.weight = w_rsc.data();
  p.scale = scale_shift ? scale.data() : nullptr;
  p.shift = scale_shift ? shift.data() : nullptr;
  p.residual = residual_on ? res.data() : nullptr;
  p.output = out.data();
  p.N = g.N, p.C = g.C, p.H = g.H, p.W = g.W, p.K = g.K, p.R = g.R, p.S = g.S, p.P = P, p.Q = Q;
  p.stride_h = g.sh, p.stride_w = g.sw, p.pad_h = g.ph, p.pad_w = g.pw, p.dil_h = g.dh, p.dil_w = g.dw;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  std::memcpy(p.residual_strides, res.strides, sizeof(p.residual_strides));
  std::memcpy(p.output_strides, out.strides, sizeof(p.output_strides));
  p.relu = relu;
  const bool expect_supported = layout == Layout::kNHWC;
  ++g_checks;
  if (depthwise_nhwc_vec_supported(p, g.groups, dtype) != expect_supported) {
    ++g_failures;
    std::printf("FAIL %s: depthwise_nhwc_vec_supported() != %d\n", name.c_str(), int(expect_supported));
    return;
  }
  if (!expect_supported) return;
  ++g_checks;
  if (launch_depthwise_conv2d_nhwc_vec(p, dtype, nullptr) != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: launcher failed\n", name.c_str());
    return;
  }
  for (int n = 0; n < g.N; ++n)
    for (int k = 0; k < g.K; ++k)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t q = 0; q < Q; ++q) {
          double v = reference_conv(g, x, w, n, k, pp, q);
          if (scale_shift) v = v * scale[k] + shift[k];
          if (residual_on) v += res.get(n, k, pp, q);
          if (relu && v < 0) v = 0;
          expect_close("out", name, out.get(n, k, pp, q), v, tolerance(dtype, v));
        }
}

// The fused separable kernel vs a float64 reference that rounds the middle tensor to the dtype
// exactly where the kernel does (it is the A operand of the tensor-core product).
void run_separable(const char* label, DType dtype, int N, int C, int H, int W, int mult, int K, int R, int stride,
                   int pad, Layout in_layout, Layout out_layout, bool affine, bool mid_relu, bool relu) {
  const std::string name = std::string(label) + "/" + dtype_name(dtype);
  const Geometry g{N, C, H, W, C * mult, R, R, C, stride, stride, pad, pad, 1, 1};
  const int64_t P = g.P(), Q = g.Q();
  const int CM = C * mult;
  Tensor4 x = make_tensor(dtype, N, C, H, W, in_layout);
  Tensor4 dw = make_tensor(dtype, CM, 1, R, R, Layout::kNCHW);
  Tensor4 pw = make_tensor(dtype, K, CM, 1, 1, Layout::kNCHW);
  Tensor4 out = make_tensor(dtype, N, K, P, Q, out_layout);
  fill_random(x);
  fill_random(dw, -2, 2);
  fill_random(pw, -2, 2);
  std::vector<float> mid_scale(CM), mid_shift(CM), scale(K), shift(K);
  for (int c = 0; c < CM; ++c) mid_scale[c] = 0.5f + 0.25f * float(c % 3), mid_shift[c] = -0.5f + 0.25f * float(c % 4);
  for (int k = 0; k < K; ++k) scale[k] = 0.25f + 0.125f * float(k % 5), shift[k] = -1.f + 0.5f * float(k % 3);
  SeparableParams p;
  p.input = x.data(), p.dw_weight = dw.data(), p.pw_weight = pw.data(), p.output = out.data();
  if (affine) {
    p.mid_scale = mid_scale.data(), p.mid_shift = mid_shift.data(), p.scale = scale.data(), p.shift = shift.data();
  }
  p.N = N, p.C = C, p.H = H, p.W = W, p.CM = CM, p.K = K, p.R = R, p.S = R, p.P = P, p.Q = Q;
  p.stride_h = p.stride_w = stride, p.pad_h = p.pad_w = pad;
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  std::memcpy(p.dw_strides, dw.strides, sizeof(p.dw_strides));
  std::memcpy(p.pw_strides, pw.strides, sizeof(p.pw_strides));
  std::memcpy(p.output_strides, out.strides, sizeof(p.output_strides));
  p.mid_relu = mid_relu, p.relu = relu;
  ++g_checks;
  const char* why = separable_fused_unsupported(p, dtype);
  if (why[0] != '\0' || launch_separable_conv2d_fused(p, dtype, nullptr) != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: fused separable refused or failed (%s)\n", name.c_str(), why);
    return;
  }
  for (int n = 0; n < N; ++n)
    for (int64_t pp = 0; pp < P; ++pp)
      for (int64_t q = 0; q < Q; ++q) {
        std::vector<double> mid(CM);
        for (int cm = 0; cm < CM; ++cm) {
          double v = 0;
          for (int r = 0; r < R; ++r)
            for (int s = 0; s < R; ++s) {
              const int64_t h = pp * stride - pad + r, w = q * stride - pad + s;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              v += double(x.get(n, cm / mult, h, w)) * dw.get(cm, 0, r, s);
            }
          if (affine) v = float(float(v) * mid_scale[cm]) + mid_shift[cm];
          if (mid_relu && v < 0) v = 0;
          mid[cm] = dtype == DType::kFloat16 ? double(__half2float(__float2half_rn(float(v))))
                                             : double(__bfloat162float(__float2bfloat16_rn(float(v))));
        }
        for (int k = 0; k < K; ++k) {
          double v = 0;
          for (int cm = 0; cm < CM; ++cm) v += mid[cm] * pw.get(k, cm, 0, 0);
          if (affine) v = v * scale[k] + shift[k];
          if (relu && v < 0) v = 0;
          // The middle rounding can flip by one ulp between fp32 orders: allow an ulp of
          // |pw| * |mid| per term on top of the output rounding.
          double slack = 0;
          for (int cm = 0; cm < CM; ++cm) slack += std::fabs(mid[cm] * pw.get(k, cm, 0, 0));
          const double u = dtype == DType::kFloat16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
          expect_close("out", name, out.get(n, k, pp, q), v,
                       tolerance(dtype, v) + u * slack * (affine ? scale[k] : 1.0));
        }
      }
}

DepthwiseBackwardParams backward_params(const Geometry& g, const Tensor4& dy, const Tensor4& x, const Tensor4& w) {
  DepthwiseBackwardParams p;
  p.N = g.N, p.C = g.C, p.H = g.H, p.W = g.W, p.K = g.K, p.R = g.R, p.S = g.S, p.P = g.P(), p.Q = g.Q();
  p.stride_h = g.sh, p.stride_w = g.sw, p.pad_h = g.ph, p.pad_w = g.pw, p.dil_h = g.dh, p.dil_w = g.dw;
  std::memcpy(p.grad_output_strides, dy.strides, sizeof(p.grad_output_strides));
  std::memcpy(p.input_strides, x.strides, sizeof(p.input_strides));
  std::memcpy(p.weight_strides, w.strides, sizeof(p.weight_strides));
  return p;
}

void run_backward(const char* label, DType dtype, const Geometry& g, Layout layout) {
  const std::string name = std::string(label) + "/" + dtype_name(dtype);
  const int64_t P = g.P(), Q = g.Q();
  const int mult = g.K / g.C;
  Tensor4 x = make_tensor(dtype, g.N, g.C, g.H, g.W, layout);
  Tensor4 w = make_tensor(dtype, g.K, 1, g.R, g.S, Layout::kNCHW);
  Tensor4 dy = make_tensor(dtype, g.N, g.K, P, Q, layout);
  Tensor4 dx = make_tensor(dtype, g.N, g.C, g.H, g.W, layout == Layout::kSliced ? Layout::kNCHW : layout);
  fill_random(x);
  fill_random(w, -2, 2);
  fill_random(dy, -4, 4);
  DepthwiseBackwardParams p = backward_params(g, dy, x, w);
  p.grad_output = const_cast<Tensor4&>(dy).data();
  p.input = x.data();
  p.weight = w.data();
  p.grad_input = dx.data();
  std::memcpy(p.grad_input_strides, dx.strides, sizeof(p.grad_input_strides));
  ++g_checks;
  if (launch_depthwise_backward_input(p, dtype, nullptr) != cudaSuccess) {
    ++g_failures;
    std::printf("FAIL %s: input-grad launcher failed\n", name.c_str());
    return;
  }
  for (int n = 0; n < g.N; ++n)
    for (int c = 0; c < g.C; ++c)
      for (int h = 0; h < g.H; ++h)
        for (int ww = 0; ww < g.W; ++ww) {
          double v = 0;
          for (int m = 0; m < mult; ++m)
            for (int64_t pp = 0; pp < P; ++pp)
              for (int64_t q = 0; q < Q; ++q) {
                const int64_t r_num = h - pp * g.sh + g.ph, s_num = ww - q * g.sw + g.pw;
                if (r_num < 0 || s_num < 0 || r_num % g.dh || s_num % g.dw) continue;
                const int64_t r = r_num / g.dh, s = s_num / g.dw;
                if (r >= g.R || s >= g.S) continue;
                v += double(dy.get(n, c * mult + m, pp, q)) * w.get(c * mult + m, 0, r, s);
              }
          expect_close("grad_input", name, dx.get(n, c, h, ww), v, tolerance(dtype, v));
        }

  // Weight gradient, twice: the second run must reproduce the first bit for bit.
  std::vector<float> workspace(size_t(depthwise_weight_grad_workspace_floats(p)));
  Tensor4 dw1 = make_tensor(dtype, g.K, 1, g.R, g.S, Layout::kNCHW);
  Tensor4 dw2 = make_tensor(dtype, g.K, 1, g.R, g.S, Layout::kNCHW);
  p.workspace = workspace.data();
  for (Tensor4* dw : {&dw1, &dw2}) {
    p.grad_weight = dw->data();
    ++g_checks;
    if (launch_depthwise_backward_weight(p, dtype, nullptr) != cudaSuccess) {
      ++g_failures;
      std::printf("FAIL %s: weight-grad launcher failed\n", name.c_str());
      return;
    }
  }
  for (int k = 0; k < g.K; ++k)
    for (int r = 0; r < g.R; ++r)
      for (int s = 0; s < g.S; ++s) {
        double v = 0;
        for (int n = 0; n < g.N; ++n)
          for (int64_t pp = 0; pp < P; ++pp)
            for (int64_t q = 0; q < Q; ++q) {
              const int64_t h = pp * g.sh - g.ph + r * g.dh, ww = q * g.sw - g.pw + s * g.dw;
              if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
              v += double(dy.get(n, k, pp, q)) * x.get(n, k / mult, h, ww);
            }
        expect_close("grad_weight", name, dw1.get(k, 0, r, s), v, tolerance(dtype, v));
      }
  ++g_checks;
  if (std::memcmp(dw1.storage.data(), dw2.storage.data(), dw1.storage.size()) != 0) {
    ++g_failures;
    std::printf("FAIL %s: grad_weight differs between two runs\n", name.c_str());
  }
}

}  // namespace

int main() {
  using L = Layout;
  const DType f32 = DType::kFloat32, f16 = DType::kFloat16, bf16 = DType::kBFloat16;
  for (DType dt : {f32, f16, bf16}) {
    // N C H W K R S groups sh sw ph pw dh dw
    run_forward("depthwise 3x3 nchw", dt, {2, 8, 9, 7, 8, 3, 3, 8, 1, 1, 1, 1, 1, 1}, L::kNCHW, L::kNCHW, L::kNCHW, true, true, true);
    run_forward("depthwise 3x3/2 nhwc", dt, {2, 12, 9, 8, 12, 3, 3, 12, 2, 2, 1, 1, 1, 1}, L::kNHWC, L::kNCHW, L::kNHWC, true, false, true);
    run_forward("depthwise 5x5 mult2 nhwc", dt, {1, 6, 8, 8, 12, 5, 5, 6, 1, 1, 2, 2, 1, 1}, L::kNHWC, L::kNCHW, L::kNHWC, false, true, false);
    run_forward("depthwise 7x7/2 mult2 nchw", dt, {1, 4, 11, 10, 8, 7, 7, 4, 2, 2, 3, 3, 1, 1}, L::kNCHW, L::kNCHW, L::kNCHW, true, true, true);
    run_forward("grouped resnext-like Cg=4 nhwc", dt, {2, 16, 6, 6, 16, 3, 3, 4, 1, 1, 1, 1, 1, 1}, L::kNHWC, L::kNHWC, L::kNHWC, true, true, true);
    run_forward("grouped two towers nchw", dt, {1, 12, 7, 7, 10, 3, 3, 2, 1, 1, 1, 1, 1, 1}, L::kNCHW, L::kNCHW, L::kNCHW, true, false, false);
  }
  for (DType dt : {f16, bf16}) {  // tensor cores: NHWC input, KRSC weight (Layout::kNHWC of [K, Cg, R, S])
    // N C H W K R S groups sh sw ph pw dh dw
    run_forward("tc resnext Cg=Kg=4", dt, {2, 16, 6, 7, 16, 3, 3, 4, 1, 1, 1, 1, 1, 1}, L::kNHWC, L::kNHWC, L::kNHWC, true,
                true, true, true);
    run_forward("tc Cg=Kg=8 s2 nchw-out", dt, {1, 32, 9, 9, 32, 3, 3, 4, 2, 2, 1, 1, 1, 1}, L::kNHWC, L::kNHWC, L::kNCHW,
                true, false, false, true);
    run_forward("tc Cg=16 Kg=24 K-tail dilated", dt, {1, 32, 7, 8, 48, 3, 3, 2, 1, 1, 2, 2, 2, 2}, L::kNHWC, L::kNHWC,
                L::kSliced, false, true, true, true);
    run_forward("tc Kg=2 Cg=6 5x5 m-tail", dt, {1, 18, 5, 5, 6, 5, 5, 3, 1, 1, 2, 2, 1, 1}, L::kNHWC, L::kNHWC, L::kNHWC,
                true, true, false, true);
    run_forward("tc two towers Cg=12 Kg=8 1x1", dt, {2, 24, 3, 5, 16, 1, 1, 2, 1, 1, 0, 0, 1, 1}, L::kNHWC, L::kNHWC,
                L::kNHWC, true, false, true, true);
  }
  run_forward("depthwise 3x3 dilated sliced", f32, {2, 5, 10, 9, 5, 3, 3, 5, 1, 1, 2, 2, 2, 2}, L::kSliced, L::kNCHW, L::kNCHW, true, true, true);
  run_forward("depthwise misaligned 3x3", f32, {1, 5, 6, 7, 5, 3, 3, 5, 1, 1, 1, 1, 1, 1}, L::kMisaligned, L::kNCHW, L::kMisaligned, false, false, false);
  run_forward("depthwise expanded batch 4x4 generic", f32, {3, 4, 7, 7, 4, 4, 4, 4, 1, 1, 1, 2, 1, 1}, L::kExpandedN, L::kNCHW, L::kNCHW, true, true, false);
  run_forward("depthwise 2x3 generic stride (2,1)", f32, {1, 6, 7, 8, 6, 2, 3, 6, 2, 1, 0, 1, 1, 1}, L::kNHWC, L::kNCHW, L::kNHWC, false, true, true);
  run_forward("depthwise 1x1 C=1 groups=1-like", f32, {2, 3, 4, 5, 6, 1, 1, 3, 1, 1, 0, 0, 1, 1}, L::kNCHW, L::kNCHW, L::kNCHW, true, true, false);
  run_forward("grouped Kg=3 odd nhwc-out", f32, {1, 9, 5, 6, 9, 3, 3, 3, 1, 2, 1, 0, 1, 1}, L::kNCHW, L::kNHWC, L::kNHWC, true, true, true);
  run_forward("grouped Kg=2 Cg=3 dilated", f32, {2, 6, 9, 9, 4, 3, 3, 2, 1, 1, 2, 2, 2, 2}, L::kNHWCOffset2, L::kNCHW, L::kSliced, true, true, true);
  run_forward("grouped 5x5 Kg=8 nchw", f32, {1, 8, 8, 8, 16, 5, 5, 2, 1, 1, 2, 2, 1, 1}, L::kNCHW, L::kNHWC, L::kNCHW, false, false, true);
  for (DType dt : {f32, f16, bf16}) {
    run_forward_vec("vec nhwc 3x3", dt, {2, 8, 7, 6, 8, 3, 3, 8, 1, 1, 1, 1, 1, 1}, true, true, true);
    run_forward_vec("vec nhwc 3x3/2", dt, {1, 12, 9, 9, 12, 3, 3, 12, 2, 2, 1, 1, 1, 1}, false, false, false);
    run_forward_vec("vec nhwc 5x5 dilated", dt, {1, 4, 9, 8, 4, 5, 5, 4, 1, 1, 4, 4, 2, 2}, true, false, true);
    run_forward_vec("vec nhwc 7x7/2", dt, {1, 8, 11, 11, 8, 7, 7, 8, 2, 2, 3, 3, 1, 1}, false, true, false);
    run_forward_vec("vec nhwc 2x3 generic", dt, {2, 4, 5, 6, 4, 2, 3, 4, 1, 2, 0, 1, 1, 1}, true, true, false);
  }
  // Only 8-byte aligned: a 16-byte fp32 vector would be misaligned, so the kernel must refuse.
  run_forward_vec("vec refuses 8B-aligned fp32", f32, {1, 8, 4, 4, 8, 3, 3, 8, 1, 1, 1, 1, 1, 1}, false, false, false,
                  L::kNHWCOffset2);
  run_forward_vec("vec refuses nchw", f16, {1, 8, 4, 4, 8, 3, 3, 8, 1, 1, 1, 1, 1, 1}, false, false, false, L::kNCHW);
  for (DType dt : {f16, bf16}) {
    // N C H W mult K R stride pad, layouts, affine mid_relu relu
    run_separable("sep 3x3 nhwc K=40", dt, 2, 24, 5, 6, 1, 40, 3, 1, 1, L::kNHWC, L::kNHWC, true, true, true);
    run_separable("sep 3x3/2 mult2 nchw K=70 (two n-tiles)", dt, 1, 20, 7, 7, 2, 70, 3, 2, 1, L::kNCHW, L::kNCHW, true,
                  false, false);
    run_separable("sep 5x5 sliced m-tail", dt, 1, 5, 9, 8, 1, 9, 5, 1, 2, L::kSliced, L::kNHWC, false, true, false);
  }
  for (DType dt : {f32, f16, bf16}) {
    run_backward("dw-bwd 3x3 nchw", dt, {2, 6, 8, 7, 6, 3, 3, 6, 1, 1, 1, 1, 1, 1}, L::kNCHW);
    run_backward("dw-bwd 3x3/2 nhwc", dt, {2, 8, 9, 9, 8, 3, 3, 8, 2, 2, 1, 1, 1, 1}, L::kNHWC);
  }
  run_backward("dw-bwd 5x5 mult2 nhwc", f32, {1, 4, 8, 8, 8, 5, 5, 4, 1, 1, 2, 2, 1, 1}, L::kNHWC);
  run_backward("dw-bwd 7x7/2 nchw", f32, {1, 3, 11, 11, 3, 7, 7, 3, 2, 2, 3, 3, 1, 1}, L::kNCHW);
  run_backward("dw-bwd 3x3 dilated sliced", f32, {1, 3, 9, 8, 3, 3, 3, 3, 1, 1, 2, 2, 2, 2}, L::kSliced);
  run_backward("dw-bwd 4x2 generic stride (1,2)", f32, {2, 3, 7, 9, 6, 4, 2, 3, 1, 2, 1, 0, 1, 1}, L::kNCHW);
  run_backward("dw-bwd many chunks", f32, {2, 2, 72, 64, 2, 3, 3, 2, 1, 1, 1, 1, 1, 1}, L::kNCHW);
  return finish("run_depthwise");
}
