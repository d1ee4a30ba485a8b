// Depthwise forward for dense channels_last tensors, multiplier 1: the MobileNet / Xception case.
// One thread owns 4 consecutive channels of one output pixel and moves them as one vector
// (16 bytes fp32, 8 bytes fp16/bf16) per tap: consecutive threads take consecutive channel
// groups, so a warp reads 128 contiguous channels of an input pixel in one transaction set and
// writes its outputs the same way. The weight is pre-laid out as [R, S, C] by the glue, so each
// tap's 4 weights are one vector load too (L1-resident: C*R*S values). Input reuse across the
// R*S taps of neighbouring pixels comes from L1/L2, so DRAM sees one read of the input and one
// write of the output. Epilogue (scale, shift, residual, ReLU) on the fp32 accumulators.
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
constexpr int kVec = 4;
}  // namespace

struct NhwcVecArgs {
  const void* input;   // [N, H, W, C] dense
  const void* weight;  // [R, S, C] dense
  Geometry g;
  int total;                           // N * P * Q * C / 4
  FastDivmod div_cvec, div_q, div_p;   // idx -> (n, p, q, channel vector)
  const float* scale;
  const float* shift;
  const void* residual;  // [N, P, Q, C] dense or null
  void* output;          // [N, P, Q, C] dense
  bool relu;
};

template <typename T, int KR, int KS>
__global__ void __launch_bounds__(kVecThreads) depthwise_nhwc_vec_kernel(const NhwcVecArgs a) {
  const int idx = blockIdx.x * kVecThreads + threadIdx.x;
  if (idx >= a.total) return;
  const Geometry& g = a.g;
  int cv, pixel, n, pq, p, q;
  a.div_cvec.divmod(idx, pixel, cv);
  a.div_q.divmod(pixel, pq, q);
  a.div_p.divmod(pq, n, p);
  const int c = cv * kVec;
  const int R = KR > 0 ? KR : g.R;
  const int S = KS > 0 ? KS : g.S;
  const T* __restrict__ x_image = static_cast<const T*>(a.input) + static_cast<int64_t>(n) * g.H * g.W * g.C + c;
  const T* __restrict__ weight = static_cast<const T*>(a.weight) + c;
  const int h0 = p * g.stride_h - g.pad_h;
  const int w0 = q * g.stride_w - g.pad_w;
  float acc[kVec] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int h = h0 + r * g.dil_h;
    if (static_cast<unsigned>(h) >= static_cast<unsigned>(g.H)) continue;
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int w = w0 + s * g.dil_w;
      if (static_cast<unsigned>(w) >= static_cast<unsigned>(g.W)) continue;
      float xv[kVec], wv[kVec];
      load4_as_float(x_image + (static_cast<int64_t>(h) * g.W + w) * g.C, xv);
      load4_as_float(weight + (r * S + s) * g.C, wv);
#pragma unroll
      for (int j = 0; j < kVec; ++j) acc[j] = fmaf(xv[j], wv[j], acc[j]);
    }
  }
  // idx enumerates (n, p, q, channel vector) in memory order: the output offset is idx * 4.
  const int64_t out_offset = static_cast<int64_t>(idx) * kVec;
  float res[kVec] = {0.f, 0.f, 0.f, 0.f};
  if (a.residual != nullptr) load4_as_float(static_cast<const T*>(a.residual) + out_offset, res);
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const float scale = a.scale != nullptr ? __ldg(a.scale + c + j) : 1.f;
    const float shift = a.shift != nullptr ? __ldg(a.shift + c + j) : 0.f;
    acc[j] = finish_epilogue(fmaf(acc[j], scale, shift), res[j], a.relu);
  }
  store4_from_float(static_cast<T*>(a.output) + out_offset, acc);
}

#define CK_DW_VEC_INSTANTIATE(T)                                                       \
  template __global__ void depthwise_nhwc_vec_kernel<T, 0, 0>(const NhwcVecArgs); \
  template __global__ void depthwise_nhwc_vec_kernel<T, 3, 3>(const NhwcVecArgs); \
  template __global__ void depthwise_nhwc_vec_kernel<T, 5, 5>(const NhwcVecArgs); \
  template __global__ void depthwise_nhwc_vec_kernel<T, 7, 7>(const NhwcVecArgs);
CK_DW_VEC_INSTANTIATE(float)
CK_DW_VEC_INSTANTIATE(__half)
CK_DW_VEC_INSTANTIATE(__nv_bfloat16)
#undef CK_DW_VEC_INSTANTIATE

namespace {

template <typename T>
cudaError_t launch_vec(const NhwcVecArgs& a, cudaStream_t stream) {
  const dim3 grid(ceil_div(a.total, kVecThreads));
  const int taps = a.g.R == a.g.S ? a.g.R : 0;
  switch (taps) {
    case 3:
      depthwise_nhwc_vec_kernel<T, 3, 3><<<grid, kVecThreads, 0, stream>>>(a);
      break;
    case 5:
      depthwise_nhwc_vec_kernel<T, 5, 5><<<grid, kVecThreads, 0, stream>>>(a);
      break;
    case 7:
      depthwise_nhwc_vec_kernel<T, 7, 7><<<grid, kVecThreads, 0, stream>>>(a);
      break;
    default:
      depthwise_nhwc_vec_kernel<T, 0, 0><<<grid, kVecThreads, 0, stream>>>(a);
  }
  return launch_status();
}

bool dense_nhwc(const int64_t (&strides)[4], int64_t C, int64_t H, int64_t W) {
  return strides[1] == 1 && strides[3] == C && strides[2] == W * C && strides[0] == H * W * C;
}

bool aligned(const void* ptr, int bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; }

}  // namespace
}  // namespace depthwise

bool depthwise_nhwc_vec_supported(const Conv2dParams& p, int64_t groups, DType dtype) {
  using depthwise::dense_nhwc;
  const int vec_bytes = depthwise::kVec * dtype_size(dtype);
  return groups == p.C && p.K == p.C && p.C % depthwise::kVec == 0 && dense_nhwc(p.input_strides, p.C, p.H, p.W) &&
         dense_nhwc(p.output_strides, p.K, p.P, p.Q) &&
         (p.residual == nullptr || dense_nhwc(p.residual_strides, p.K, p.P, p.Q)) &&
         depthwise::aligned(p.input, vec_bytes) && depthwise::aligned(p.weight, vec_bytes) &&
         depthwise::aligned(p.output, vec_bytes) && (p.residual == nullptr || depthwise::aligned(p.residual, vec_bytes)) &&
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
  a.total = int(p.N * p.P * p.Q * (p.C / kVec));
  a.div_cvec = FastDivmod(g.C / kVec);
  a.div_q = FastDivmod(g.Q);
  a.div_p = FastDivmod(g.P);
  a.scale = p.scale;
  a.shift = p.shift;
  a.residual = p.residual;
  a.output = p.output;
  a.relu = p.relu;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_vec<T>(a, stream);
  });
}

}  // namespace convkernels
