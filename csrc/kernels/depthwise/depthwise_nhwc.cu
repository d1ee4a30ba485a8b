// Depthwise forward for dense channels_last tensors, multiplier 1: the MobileNet / Xception case.
// Memory-bound: the kernel must read the input once from DRAM, write the output once, and keep
// the load instructions per output few enough that L1 keeps up.
//
// * Channel vectors: a thread owns VEC consecutive channels and moves them as one 16-byte vector
//   (8 channels of fp16/bf16, 4 of fp32; 8-byte vectors of 4 channels when C or the alignment
//   allows no more). Consecutive threads take consecutive vectors, so a warp reads one input
//   pixel's channels contiguously and writes its outputs the same way.
// * Output strips (square 3x3 / 5x5 / 7x7 kernels, horizontal stride 1 or 2, no horizontal
//   dilation): a thread computes TW = 4 neighbouring output pixels of a row. Along the row the
//   four windows overlap, so each input column is loaded once for all of them: (TW - 1) * stride
//   + S loads per kernel row instead of TW * S, and each row's S weight vectors are loaded once
//   for the four outputs.
// * Other shapes: one output pixel per thread, every tap loaded (the generic kernel).
//
// The weight is pre-laid out as [R, S, C] by the glue (L1-resident: C*R*S values). Epilogue
// (scale, shift, residual, ReLU) on the fp32 accumulators.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/launch.h"
#include "depthwise/depthwise.h"
#include "depthwise/grouped_shape.h"

namespace convkernels {
namespace depthwise {
namespace {
constexpr int kVecThreads = 256;
constexpr int kMinVec = 4;      // the narrowest channel vector (8 bytes fp16/bf16, 16 bytes fp32)
constexpr int kStripWidth = 4;  // output pixels per thread along a row (strip kernels)
}  // namespace

struct NhwcVecArgs {
  const void* input;   // [N, H, W, C] dense
  const void* weight;  // [R, S, C] dense
  Geometry g;
  int total;                              // threads: N * P * (Q or strips of Q) * C / VEC
  FastDivmod div_cvec, div_cols, div_p;   // idx -> (n, p, column or strip, channel vector)
  const float* scale;
  const float* shift;
  const void* residual;  // [N, P, Q, C] dense or null
  void* output;          // [N, P, Q, C] dense
  bool relu;
};

// The epilogue of one output pixel's VEC channels; `offset` is its element offset in the
// dense NHWC output (and residual); `scale`/`shift` those channels' factors.
template <int VEC, typename T>
__device__ __forceinline__ void finish_pixel(const NhwcVecArgs& a, int64_t offset, const float (&scale)[VEC],
                                             const float (&shift)[VEC], float (&acc)[VEC]) {
  float res[VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) res[j] = 0.f;
  if (a.residual != nullptr) load_vec_as_float<VEC>(static_cast<const T*>(a.residual) + offset, res);
#pragma unroll
  for (int j = 0; j < VEC; ++j) acc[j] = finish_epilogue(fmaf(acc[j], scale[j], shift[j]), res[j], a.relu);
  store_vec_from_float<VEC>(static_cast<T*>(a.output) + offset, acc);
}

template <int VEC>
__device__ __forceinline__ void load_affine(const NhwcVecArgs& a, int c, float (&scale)[VEC], float (&shift)[VEC]) {
#pragma unroll
  for (int j = 0; j < VEC; ++j) {
    scale[j] = a.scale != nullptr ? __ldg(a.scale + c + j) : 1.f;
    shift[j] = a.shift != nullptr ? __ldg(a.shift + c + j) : 0.f;
  }
}

// One output pixel per thread, any kernel size, stride and dilation (KR, KS > 0: unrolled).
template <typename T, int VEC, int KR, int KS>
__global__ void __launch_bounds__(kVecThreads) depthwise_nhwc_pixel_kernel(const NhwcVecArgs a) {
  const int idx = blockIdx.x * kVecThreads + threadIdx.x;
  if (idx >= a.total) return;
  const Geometry& g = a.g;
  int cv, pixel, n, pq, p, q;
  a.div_cvec.divmod(idx, pixel, cv);
  a.div_cols.divmod(pixel, pq, q);
  a.div_p.divmod(pq, n, p);
  const int c = cv * VEC;
  const int R = KR > 0 ? KR : g.R;
  const int S = KS > 0 ? KS : g.S;
  const T* __restrict__ x_image = static_cast<const T*>(a.input) + static_cast<int64_t>(n) * g.H * g.W * g.C + c;
  const T* __restrict__ weight = static_cast<const T*>(a.weight) + c;
  const int h0 = p * g.stride_h - g.pad_h;
  const int w0 = q * g.stride_w - g.pad_w;
  float acc[VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) acc[j] = 0.f;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int h = h0 + r * g.dil_h;
    if (static_cast<unsigned>(h) >= static_cast<unsigned>(g.H)) continue;
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int w = w0 + s * g.dil_w;
      if (static_cast<unsigned>(w) >= static_cast<unsigned>(g.W)) continue;
      float xv[VEC], wv[VEC];
      load_vec_as_float<VEC>(x_image + (static_cast<int64_t>(h) * g.W + w) * g.C, xv);
      load_vec_as_float<VEC>(weight + (r * S + s) * g.C, wv);
#pragma unroll
      for (int j = 0; j < VEC; ++j) acc[j] = fmaf(xv[j], wv[j], acc[j]);
    }
  }
  float scale[VEC], shift[VEC];
  load_affine<VEC>(a, c, scale, shift);
  // idx enumerates (n, p, q, channel vector) in memory order: the output offset is idx * VEC.
  finish_pixel<VEC, T>(a, static_cast<int64_t>(idx) * VEC, scale, shift, acc);
}

// kStripWidth neighbouring output pixels of one row per thread, K x K kernel, horizontal stride
// STRIDE_W, no horizontal dilation (vertical stride and dilation are free). Each input column of
// the strip's window is loaded once and added to every output whose window holds it; the taps
// are summed in the same (r, s) order as the pixel kernel, so both give the same bits.
template <typename T, int VEC, int K, int STRIDE_W>
__global__ void __launch_bounds__(kVecThreads, 1) depthwise_nhwc_strip_kernel(const NhwcVecArgs a) {
  constexpr int kCols = (kStripWidth - 1) * STRIDE_W + K;  // input columns under the strip
  const int idx = blockIdx.x * kVecThreads + threadIdx.x;
  if (idx >= a.total) return;
  const Geometry& g = a.g;
  int cv, row, strip, n, p;
  a.div_cvec.divmod(idx, row, cv);
  a.div_cols.divmod(row, row, strip);
  a.div_p.divmod(row, n, p);
  const int c = cv * VEC;
  const int q0 = strip * kStripWidth;
  const T* __restrict__ x_image = static_cast<const T*>(a.input) + static_cast<int64_t>(n) * g.H * g.W * g.C + c;
  const T* __restrict__ weight = static_cast<const T*>(a.weight) + c;
  const int w_first = q0 * STRIDE_W - g.pad_w;
  float acc[kStripWidth][VEC];
#pragma unroll
  for (int t = 0; t < kStripWidth; ++t)
#pragma unroll
    for (int j = 0; j < VEC; ++j) acc[t][j] = 0.f;
#pragma unroll
  for (int r = 0; r < K; ++r) {
    const int h = p * g.stride_h - g.pad_h + r * g.dil_h;
    if (static_cast<unsigned>(h) >= static_cast<unsigned>(g.H)) continue;
    float wv[K][VEC];
#pragma unroll
    for (int s = 0; s < K; ++s) load_vec_as_float<VEC>(weight + (r * K + s) * g.C, wv[s]);
    const T* __restrict__ x_row = x_image + static_cast<int64_t>(h) * g.W * g.C;
#pragma unroll
    for (int col = 0; col < kCols; ++col) {
      const int w = w_first + col;
      if (static_cast<unsigned>(w) >= static_cast<unsigned>(g.W)) continue;
      float xv[VEC];
      load_vec_as_float<VEC>(x_row + static_cast<int64_t>(w) * g.C, xv);
#pragma unroll
      for (int t = 0; t < kStripWidth; ++t) {
        const int s = col - t * STRIDE_W;  // this column's tap in output t's window
        if (s < 0 || s >= K) continue;
#pragma unroll
        for (int j = 0; j < VEC; ++j) acc[t][j] = fmaf(xv[j], wv[s][j], acc[t][j]);
      }
    }
  }
  float scale[VEC], shift[VEC];
  load_affine<VEC>(a, c, scale, shift);
  const int64_t row_offset = (static_cast<int64_t>(n) * g.P + p) * g.Q;
#pragma unroll
  for (int t = 0; t < kStripWidth; ++t) {
    const int q = q0 + t;
    if (q >= g.Q) break;
    finish_pixel<VEC, T>(a, (row_offset + q) * g.C + c, scale, shift, acc[t]);
  }
}

namespace {

bool strip_shape(const Geometry& g) {
  return g.R == g.S && (g.R == 3 || g.R == 5 || g.R == 7) && g.dil_w == 1 && (g.stride_w == 1 || g.stride_w == 2);
}

template <typename T, int VEC, int K>
void launch_strip(const NhwcVecArgs& a, dim3 grid, cudaStream_t stream) {
  if (a.g.stride_w == 1) {
    depthwise_nhwc_strip_kernel<T, VEC, K, 1><<<grid, kVecThreads, 0, stream>>>(a);
  } else {
    depthwise_nhwc_strip_kernel<T, VEC, K, 2><<<grid, kVecThreads, 0, stream>>>(a);
  }
}

template <typename T, int VEC>
cudaError_t launch_typed(NhwcVecArgs a, cudaStream_t stream) {
  const Geometry& g = a.g;
  const bool strips = strip_shape(g);
  const int columns = strips ? ceil_div(g.Q, kStripWidth) : g.Q;
  a.total = g.N * g.P * columns * (g.C / VEC);
  a.div_cvec = FastDivmod(g.C / VEC);
  a.div_cols = FastDivmod(columns);
  a.div_p = FastDivmod(g.P);
  const dim3 grid(ceil_div(a.total, kVecThreads));
  const int taps = g.R == g.S ? g.R : 0;
  if (strips) {
    switch (taps) {
      case 3:
        launch_strip<T, VEC, 3>(a, grid, stream);
        break;
      case 5:
        launch_strip<T, VEC, 5>(a, grid, stream);
        break;
      default:
        launch_strip<T, VEC, 7>(a, grid, stream);
    }
    return launch_status();
  }
  switch (taps) {
    case 3:
      depthwise_nhwc_pixel_kernel<T, VEC, 3, 3><<<grid, kVecThreads, 0, stream>>>(a);
      break;
    case 5:
      depthwise_nhwc_pixel_kernel<T, VEC, 5, 5><<<grid, kVecThreads, 0, stream>>>(a);
      break;
    case 7:
      depthwise_nhwc_pixel_kernel<T, VEC, 7, 7><<<grid, kVecThreads, 0, stream>>>(a);
      break;
    default:
      depthwise_nhwc_pixel_kernel<T, VEC, 0, 0><<<grid, kVecThreads, 0, stream>>>(a);
  }
  return launch_status();
}

bool dense_nhwc(const int64_t (&strides)[4], int64_t C, int64_t H, int64_t W) {
  return strides[1] == 1 && strides[3] == C && strides[2] == W * C && strides[0] == H * W * C;
}

bool aligned(const void* ptr, int bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; }

bool tensors_aligned(const Conv2dParams& p, int bytes) {
  return aligned(p.input, bytes) && aligned(p.weight, bytes) && aligned(p.output, bytes) &&
         (p.residual == nullptr || aligned(p.residual, bytes));
}

// Channels per thread: a 16-byte vector where C and every tensor's alignment allow it (8
// channels of fp16/bf16, 4 of fp32), else 4 channels in 8 bytes (fp16/bf16).
int vector_channels(const Conv2dParams& p, DType dtype) {
  const int wide = 16 / dtype_size(dtype);
  return p.C % wide == 0 && tensors_aligned(p, 16) ? wide : kMinVec;
}

}  // namespace
}  // namespace depthwise

bool depthwise_nhwc_vec_supported(const Conv2dParams& p, int64_t groups, DType dtype) {
  using depthwise::dense_nhwc;
  return groups == p.C && p.K == p.C && p.C % depthwise::kMinVec == 0 && dense_nhwc(p.input_strides, p.C, p.H, p.W) &&
         dense_nhwc(p.output_strides, p.K, p.P, p.Q) &&
         (p.residual == nullptr || dense_nhwc(p.residual_strides, p.K, p.P, p.Q)) &&
         depthwise::tensors_aligned(p, depthwise::kMinVec * dtype_size(dtype)) &&
         grouped_conv2d_index_limit_violation(p, groups)[0] == '\0';
}

cudaError_t launch_depthwise_conv2d_nhwc_vec(const Conv2dParams& p, DType dtype, cudaStream_t stream) {
  using namespace depthwise;
  if (!depthwise_nhwc_vec_supported(p, p.C, dtype)) return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q * p.K == 0) return cudaSuccess;
  NhwcVecArgs a;
  a.input = p.input;
  a.weight = p.weight;
  Geometry& g = a.g;
  g.N = int(p.N), g.C = int(p.C), g.H = int(p.H), g.W = int(p.W), g.K = int(p.K), g.R = int(p.R), g.S = int(p.S);
  g.P = int(p.P), g.Q = int(p.Q);
  g.stride_h = int(p.stride_h), g.stride_w = int(p.stride_w), g.pad_h = int(p.pad_h), g.pad_w = int(p.pad_w);
  g.dil_h = int(p.dil_h), g.dil_w = int(p.dil_w);
  g.Cg = 1, g.Kg = 1;
  a.scale = p.scale;
  a.shift = p.shift;
  a.residual = p.residual;
  a.output = p.output;
  a.relu = p.relu;
  const bool wide = vector_channels(p, dtype) == 8;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (sizeof(T) == 2) {
      if (wide) return launch_typed<T, 8>(a, stream);
    }
    return launch_typed<T, kMinVec>(a, stream);
  });
}

}  // namespace convkernels
