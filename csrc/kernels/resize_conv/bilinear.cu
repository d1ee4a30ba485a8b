// Bilinear resize-convolution, SIMT implicit GEMM (fp32 accumulate; the fallback of bilinear_tc.cu) over the upsampled grid:
// M = N*P*Q output pixels, N_gemm = K, K_gemm = R*S*C ordered (r, s, c). The upsampled image is
// never stored: each A-operand value is interpolated from its four low-res neighbours while the
// tile is loaded, exactly as aten's upsample_bilinear2d computes it (fp32 source index
// ratio*(dst + 0.5) - 0.5 clamped at 0, or ratio*dst with align_corners; the +1 neighbour clamped
// at the border; the same order of operations; rounded to the input dtype, as F.interpolate's
// output is, before it meets the weight).
//
// CTA tile 64 pixels x 64 channels x 16 reduction values, 256 threads, 4x4 outputs per thread,
// one shared-memory buffer. Any input/weight/output strides. The interpolation weights depend on
// (pixel, tap) only; they are recomputed per element here, which keeps the kernel general.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/index_math.h"
#include "common/launch.h"
#include "resize_conv/bilinear_source.cuh"
#include "resize_conv/resize_conv.h"

namespace convkernels {
namespace resize_conv {

struct BilinearShape {
  int N, C, H, W, K, R, S, P, Q;
  int HU, WU;  // upsampled sizes
  int stride_h, stride_w, pad_h, pad_w;
  int M, Kg;
  float ratio_h, ratio_w;
  bool align_corners;
  FastDivmod div_pq, div_q, div_c, div_s;
};

struct BilinearArgs {
  const void* input;
  const void* weight;
  BilinearShape shape;
  int64_t input_strides[4];   // n, c, h, w
  int64_t weight_strides[4];  // k, c, r, s
  EpilogueOperands epilogue;
};

namespace bilinear {
constexpr int kBM = 64;
constexpr int kBN = 64;
constexpr int kBK = 16;
constexpr int kThreads = 256;
constexpr int kPad = 4;
constexpr int kLoads = kBK * kBM / kThreads;  // 4 per thread for A, and for B
}  // namespace bilinear

template <typename T>
__global__ void __launch_bounds__(bilinear::kThreads) resize_bilinear_conv2d_kernel(const BilinearArgs args) {
  using namespace bilinear;
  using Traits = DTypeTraits<T>;
  __shared__ __align__(16) float a_tile[kBK][kBM + kPad];
  __shared__ __align__(16) float b_tile[kBK][kBN + kPad];

  const BilinearShape& s = args.shape;
  const T* __restrict__ input = static_cast<const T*>(args.input);
  const T* __restrict__ weight = static_cast<const T*>(args.weight);
  const int64_t* is = args.input_strides;
  const int64_t* ws = args.weight_strides;
  const int tid = threadIdx.x;
  const int block_m = blockIdx.x * kBM;
  const int block_n = blockIdx.y * kBN;

  // Loads: 64 consecutive threads walk tile rows (pixels / output channels), 4 column groups.
  const int load_row = tid % kBM;
  const int load_col0 = tid / kBM;
  const int m_load = block_m + load_row;
  const bool m_ok = m_load < s.M;
  int64_t a_base = 0;
  int hy0 = 0, wx0 = 0;
  if (m_ok) {
    int n, pq, p, q;
    s.div_pq.divmod(m_load, n, pq);
    s.div_q.divmod(pq, p, q);
    a_base = n * is[0];
    hy0 = p * s.stride_h - s.pad_h;
    wx0 = q * s.stride_w - s.pad_w;
  }
  const int n_load = block_n + load_row;
  const bool n_ok = n_load < s.K;
  const int64_t b_base = static_cast<int64_t>(n_load) * ws[0];

  // Compute: thread (ty, tx) owns pixels ty*4.. and channels tx*4.. of the tile.
  const int tx = tid % 16;
  const int ty = tid / 16;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;

  for (int k0 = 0; k0 < s.Kg; k0 += kBK) {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int col = load_col0 + i * (kThreads / kBM);
      const int kg = k0 + col;
      float a = 0.f, b = 0.f;
      if (kg < s.Kg) {
        int rs, c, r, ss;
        s.div_c.divmod(kg, rs, c);
        s.div_s.divmod(rs, r, ss);
        const int hy = hy0 + r;
        const int wx = wx0 + ss;
        if (m_ok && static_cast<unsigned>(hy) < static_cast<unsigned>(s.HU) &&
            static_cast<unsigned>(wx) < static_cast<unsigned>(s.WU)) {
          const Linear1d lh = linear_source(hy, s.H, s.ratio_h, s.align_corners);
          const Linear1d lw = linear_source(wx, s.W, s.ratio_w, s.align_corners);
          const T* px = input + (a_base + c * is[1] + lh.i0 * is[2] + lw.i0 * is[3]);
          const int64_t dh = lh.step * is[2], dw = lw.step * is[3];
          const float x00 = Traits::to_float(px[0]), x01 = Traits::to_float(px[dw]);
          const float x10 = Traits::to_float(px[dh]), x11 = Traits::to_float(px[dh + dw]);
          const float v = lh.l0 * (lw.l0 * x00 + lw.l1 * x01) + lh.l1 * (lw.l0 * x10 + lw.l1 * x11);
          a = Traits::to_float(Traits::from_float(v));  // F.interpolate stores the upsampled value in T
        }
        if (n_ok) b = Traits::to_float(weight[b_base + c * ws[1] + r * ws[2] + ss * ws[3]]);
      }
      a_tile[col][load_row] = a;
      b_tile[col][load_row] = b;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      const float4 av = *reinterpret_cast<const float4*>(&a_tile[kk][ty * 4]);
      const float4 bv = *reinterpret_cast<const float4*>(&b_tile[kk][tx * 4]);
      const float am[4] = {av.x, av.y, av.z, av.w};
      const float bn[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(am[i], bn[j], acc[i][j]);
    }
    __syncthreads();
  }

  const EpilogueOperands& ep = args.epilogue;
  T* __restrict__ output = static_cast<T*>(ep.output);
  const int64_t* os = ep.output_strides;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = block_m + ty * 4 + i;
    if (m >= s.M) continue;
    int n, pq, p, q;
    s.div_pq.divmod(m, n, pq);
    s.div_q.divmod(pq, p, q);
    const int64_t pixel = n * os[0] + p * os[2] + q * os[3];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int k = block_n + tx * 4 + j;
      if (k >= s.K) continue;
      const ChannelAffine affine = ChannelAffine::load(ep, k);
      store_from_float(output + (pixel + k * os[1]), finish_epilogue(affine.apply(acc[i][j]), 0.f, ep.relu));
    }
  }
}

template __global__ void resize_bilinear_conv2d_kernel<float>(const BilinearArgs);
template __global__ void resize_bilinear_conv2d_kernel<__half>(const BilinearArgs);
template __global__ void resize_bilinear_conv2d_kernel<__nv_bfloat16>(const BilinearArgs);

namespace {

template <typename T>
cudaError_t launch(const BilinearArgs& args, cudaStream_t stream) {
  const dim3 grid(ceil_div(args.shape.M, bilinear::kBM), ceil_div(args.shape.K, bilinear::kBN));
  resize_bilinear_conv2d_kernel<T><<<grid, bilinear::kThreads, 0, stream>>>(args);
  return launch_status();
}

}  // namespace
}  // namespace resize_conv

cudaError_t launch_resize_bilinear_conv2d(const ResizeConvParams& p, DType dtype, bool allow_tensor_cores,
                                          cudaStream_t stream) {
  using namespace resize_conv;
  if (resize_conv_index_limit_violation(p)[0] != '\0' || p.scale_factor < 1) return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q == 0 || p.K == 0) return cudaSuccess;
  const bool tensor_cores = allow_tensor_cores || (dtype == DType::kFloat32 && p.split_tf32);
  if (tensor_cores && resize_bilinear_tc_supported(p, dtype)) return launch_resize_bilinear_tc(p, dtype, stream);
  BilinearArgs args;
  args.input = p.input;
  args.weight = p.weight;
  BilinearShape& s = args.shape;
  s.N = int(p.N), s.C = int(p.C), s.H = int(p.H), s.W = int(p.W), s.K = int(p.K);
  s.R = int(p.R), s.S = int(p.S), s.P = int(p.P), s.Q = int(p.Q);
  s.HU = int(p.H * p.scale_factor), s.WU = int(p.W * p.scale_factor);
  s.stride_h = int(p.stride_h), s.stride_w = int(p.stride_w), s.pad_h = int(p.pad_h), s.pad_w = int(p.pad_w);
  s.M = int(p.N * p.P * p.Q);
  s.Kg = int(p.C * p.R * p.S);
  s.ratio_h = source_ratio(p.H, s.HU, p.scale_factor, p.align_corners);
  s.ratio_w = source_ratio(p.W, s.WU, p.scale_factor, p.align_corners);
  s.align_corners = p.align_corners;
  s.div_pq = FastDivmod(s.P * s.Q);
  s.div_q = FastDivmod(s.Q);
  s.div_c = FastDivmod(s.C);
  s.div_s = FastDivmod(s.S);
  for (int d = 0; d < 4; ++d) {
    args.input_strides[d] = p.input_strides[d];
    args.weight_strides[d] = p.weight_strides[d];
  }
  args.epilogue.scale = p.scale;
  args.epilogue.shift = p.shift;
  args.epilogue.residual = nullptr;
  args.epilogue.output = p.output;
  for (int d = 0; d < 4; ++d) {
    args.epilogue.residual_strides[d] = 0;
    args.epilogue.output_strides[d] = p.output_strides[d];
  }
  args.epilogue.relu = p.relu;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch<T>(args, stream);
  });
}

}  // namespace convkernels
