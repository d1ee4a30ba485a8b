// Fused depthwise-separable convolution on tensor cores (fp16 / bf16, sm_80+): the depthwise
// result never reaches global memory.
//
//   mid[m, cm] = act_mid(sum_{r,s} x[n, cm/mult, h, w] * dw[cm, r, s] * mid_scale + mid_shift)
//   out[m, k]  = act(sum_cm mid[m, cm] * pw[k, cm] * scale[k] + shift[k])
//
// CTA = 4 warps, tile 64 pixels x 64 output channels, reduction over the M*C middle channels
// in slices of 32. Per slice: every thread computes 16 depthwise values (fp32, the R*S taps
// through the input's strides), applies the middle epilogue and rounds to T (the unfused path's
// rounding point) into shared memory as the A tile [64][32]; the pointwise weight slice
// [64 k][32 cm] (k-major, cm contiguous: the mma "col" B operand) is staged beside it; then each
// warp runs 2 x 4 x 2 mma.m16n8k16 on its 32 x 32 quarter. Fragments are read from shared memory
// with plain 32-bit loads in the ISA's fragment layout (rows padded by 8 elements so the 8
// groups of a warp hit distinct banks). A CTA recomputes its pixels' depthwise for each of the
// K/64 output tiles: the glue uses this kernel only up to kMaxOutputTiles tiles.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/launch.h"
#include "common/mma_sm80.cuh"
#include "depthwise/depthwise.h"
#include "depthwise/grouped_shape.h"

namespace convkernels {
namespace depthwise {
namespace {
constexpr int kSepThreads = 128;
constexpr int kSepBM = 64, kSepBN = 64, kSepBK = 32;
constexpr int kSepRow = kSepBK + 8;  // padded row (elements) of both shared tiles
}  // namespace

struct SeparableArgs {
  SeparableParams p;
  Geometry g;  // depthwise geometry (Kg = multiplier, K = middle channels)
  int M;       // N * P * Q
  FastDivmod div_pq, div_q;
};

template <typename T>
__global__ void __launch_bounds__(kSepThreads) separable_fused_kernel(const SeparableArgs a) {
#if CK_SM80_ENABLED
  __shared__ __align__(16) T a_tile[kSepBM][kSepRow];
  __shared__ __align__(16) T b_tile[kSepBN][kSepRow];
  const SeparableParams& p = a.p;
  const Geometry& g = a.g;
  const T* __restrict__ x = static_cast<const T*>(p.input);
  const T* __restrict__ dw = static_cast<const T*>(p.dw_weight);
  const T* __restrict__ pw = static_cast<const T*>(p.pw_weight);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int block_m = blockIdx.x * kSepBM, block_n = blockIdx.y * kSepBN;
  const int CM = g.K;

  // Depthwise mapping: thread owns pixel row (tid % 64) and channels (tid / 64) + 2*i, i < 16.
  const int dm = tid % kSepBM;
  const int m = block_m + dm;
  const bool m_ok = m < a.M;
  int n = 0, pq = 0, pp = 0, q = 0;
  if (m_ok) {
    a.div_pq.divmod(m, n, pq);
    a.div_q.divmod(pq, pp, q);
  }
  const int h0 = pp * g.stride_h - g.pad_h, w0 = q * g.stride_w - g.pad_w;
  const int64_t x_image = n * p.input_strides[0];

  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;  // warp's quarter of the tile
  const int gid = lane / 4, tig = lane % 4;
  float acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  for (int c0 = 0; c0 < CM; c0 += kSepBK) {
    // A tile: the depthwise slice, middle epilogue applied, rounded to T.
#pragma unroll 1
    for (int i = 0; i < kSepBK / 2; ++i) {
      const int dc = tid / kSepBM + 2 * i;
      const int cm = c0 + dc;
      float v = 0.f;
      if (m_ok && cm < CM) {
        const int64_t x_chan = x_image + (cm / g.Kg) * p.input_strides[1];
        for (int r = 0; r < g.R; ++r) {
          const int h = h0 + r * g.dil_h;
          if (static_cast<unsigned>(h) >= static_cast<unsigned>(g.H)) continue;
          for (int s = 0; s < g.S; ++s) {
            const int w = w0 + s * g.dil_w;
            if (static_cast<unsigned>(w) >= static_cast<unsigned>(g.W)) continue;
            v = fmaf(load_as_float(x + (x_chan + h * p.input_strides[2] + w * p.input_strides[3])),
                     load_as_float(dw + (cm * p.dw_strides[0] + r * p.dw_strides[2] + s * p.dw_strides[3])), v);
          }
        }
        if (p.mid_scale != nullptr) v *= __ldg(p.mid_scale + cm);
        if (p.mid_shift != nullptr) v += __ldg(p.mid_shift + cm);
        if (p.mid_relu) v = relu_keep_nan(v);
      }
      a_tile[dm][dc] = DTypeTraits<T>::from_float(v);
    }
    // B tile: pointwise weight [k][cm], zero outside K x CM.
#pragma unroll 1
    for (int i = tid; i < kSepBN * kSepBK; i += kSepThreads) {
      const int bn = i / kSepBK, bk = i % kSepBK;
      const int k = block_n + bn, cm = c0 + bk;
      b_tile[bn][bk] = (k < p.K && cm < CM) ? pw[k * p.pw_strides[0] + cm * p.pw_strides[1]]
                                            : DTypeTraits<T>::from_float(0.f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kSepBK; kk += 16) {
      uint32_t af[2][4], bf[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int row = wm + i * 16 + gid;
        af[i][0] = *reinterpret_cast<const uint32_t*>(&a_tile[row][kk + 2 * tig]);
        af[i][1] = *reinterpret_cast<const uint32_t*>(&a_tile[row + 8][kk + 2 * tig]);
        af[i][2] = *reinterpret_cast<const uint32_t*>(&a_tile[row][kk + 2 * tig + 8]);
        af[i][3] = *reinterpret_cast<const uint32_t*>(&a_tile[row + 8][kk + 2 * tig + 8]);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int col = wn + j * 8 + gid;
        bf[j][0] = *reinterpret_cast<const uint32_t*>(&b_tile[col][kk + 2 * tig]);
        bf[j][1] = *reinterpret_cast<const uint32_t*>(&b_tile[col][kk + 2 * tig + 8]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) MmaM16N8K16<T>::run(acc[i][j], af[i], bf[j]);
    }
    __syncthreads();
  }

  // Epilogue: accumulator (i, j, e) is row wm + 16i + gid + 8(e/2), column wn + 8j + 2tig + e%2.
  T* __restrict__ out = static_cast<T*>(p.output);
  const int64_t* os = p.output_strides;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int mo = block_m + wm + i * 16 + gid + 8 * half;
      if (mo >= a.M) continue;
      int on, opq, op, oq;
      a.div_pq.divmod(mo, on, opq);
      a.div_q.divmod(opq, op, oq);
      const int64_t pixel = on * os[0] + op * os[2] + oq * os[3];
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int k = block_n + wn + j * 8 + 2 * tig + e;
          if (k >= p.K) continue;
          float v = acc[i][j][2 * half + e];
          if (p.scale != nullptr) v *= __ldg(p.scale + k);
          if (p.shift != nullptr) v += __ldg(p.shift + k);
          if (p.relu) v = relu_keep_nan(v);
          store_from_float(out + (pixel + k * os[1]), v);
        }
    }
#endif
}

template __global__ void separable_fused_kernel<__half>(const SeparableArgs);
template __global__ void separable_fused_kernel<__nv_bfloat16>(const SeparableArgs);

}  // namespace depthwise

const char* separable_fused_unsupported(const SeparableParams& p, DType dtype) {
  using depthwise::kInt32Limit;
  if (dtype == DType::kFloat32) return "float32 (the fused kernel runs fp16/bf16 tensor cores)";
  if (current_device_compute_major() < 8) return "a GPU older than sm_80";
  if (p.C <= 0 || p.CM % p.C != 0) return "middle channels not a multiple of C";
  if (ceil_div64(p.K, depthwise::kSepBN) > kSeparableMaxOutputTiles) return "too many output channels";
  const int64_t extents[] = {p.N, p.C, p.H, p.W, p.CM, p.K, p.R, p.S, p.P, p.Q};
  for (int64_t e : extents) {
    if (e < 0 || e > kInt32Limit) return "a size beyond 32 bits";
  }
  if (p.N * p.P * p.Q > kInt32Limit) return "N*P*Q beyond 2^31";
  if (p.P * p.stride_h + p.R * p.dil_h >= (int64_t(1) << 30) || p.Q * p.stride_w + p.S * p.dil_w >= (int64_t(1) << 30)) {
    return "spatial extents beyond 2^30";
  }
  return "";
}

cudaError_t launch_separable_conv2d_fused(const SeparableParams& p, DType dtype, cudaStream_t stream) {
  using namespace depthwise;
  if (separable_fused_unsupported(p, dtype)[0] != '\0') return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q * p.K == 0) return cudaSuccess;
  SeparableArgs a;
  a.p = p;
  Geometry& g = a.g;
  g.N = int(p.N), g.C = int(p.C), g.H = int(p.H), g.W = int(p.W), g.K = int(p.CM), g.R = int(p.R), g.S = int(p.S);
  g.P = int(p.P), g.Q = int(p.Q);
  g.stride_h = int(p.stride_h), g.stride_w = int(p.stride_w), g.pad_h = int(p.pad_h), g.pad_w = int(p.pad_w);
  g.dil_h = int(p.dil_h), g.dil_w = int(p.dil_w);
  g.Cg = 1, g.Kg = int(p.CM / p.C);
  a.M = int(p.N * p.P * p.Q);
  a.div_pq = FastDivmod(g.P * g.Q);
  a.div_q = FastDivmod(g.Q);
  const dim3 grid(ceil_div(a.M, kSepBM), ceil_div(int(p.K), kSepBN));
  return dispatch_half_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    separable_fused_kernel<T><<<grid, kSepThreads, 0, stream>>>(a);
    return launch_status();
  });
}

}  // namespace convkernels
