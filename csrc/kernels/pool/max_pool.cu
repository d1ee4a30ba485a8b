// Max pooling (fixed and adaptive windows) forward with indices, and its backward as a gather.
//
// Forward: one thread per output element (channels_last with 16-byte aligned channels: per
// vector of V = 16 / sizeof(T) channels), walking the window taps; the running max follows
// torch: a tap replaces it when greater or NaN, ties keep the first tap, so NaN propagates
// and the index is torch's. In-plane indices h*W + w are carried in 32 bits (planes < 2^31,
// checked by the launcher) and stored as int64 (in 16-byte pairs on the channel-vector path).
//
// Backward: one thread per grad_input element gathers grad_output over the windows covering
// it, keeping those whose saved index is its own: no atomics, a fixed summation order
// (deterministic), fp32 accumulation, one write per element (no zero-fill pass).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "common/layout.h"
#include "pool/pool.h"
#include "pool/pool_common.cuh"

namespace convkernels {
namespace pool {

struct MaxPoolArgs {
  const void* input;
  void* output;
  int64_t* indices;  // or null
  Window32 g;
  DenseWalk walk;  // over the output [N, C, OH, OW]
  int64_t in_strides[4];
  bool adaptive;
};

template <typename T, int V, bool kChannelsLast, bool k64, bool kAdaptive>
__global__ void __launch_bounds__(kThreads, kMinBlocks) max_pool_fwd_kernel(const MaxPoolArgs a) {
  const T* __restrict__ input = static_cast<const T*>(a.input);
  T* __restrict__ output = static_cast<T*>(a.output);
  const int64_t* s = a.in_strides;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 o = walk_coord<kChannelsLast, k64, V>(e, a.walk);
    const WindowRange rh = window_range<kAdaptive>(a.g.h, static_cast<int>(o.y));
    const WindowRange rw = window_range<kAdaptive>(a.g.w, static_cast<int>(o.x));
    const int W = a.g.w.in;
    const T* plane = input + o.n * s[0] + o.c * s[1];
    float best[V];
    int32_t best_at[V];
#pragma unroll
    for (int q = 0; q < V; ++q) best[q] = 0.f, best_at[q] = -1;
    for (int h = rh.first; h < rh.end; h += rh.step) {
      for (int w = rw.first; w < rw.end; w += rw.step) {
        float v[V];
        ChannelVec<T, V>::load(plane + h * s[2] + w * s[3], v);
        const int32_t at = h * W + w;
#pragma unroll
        for (int q = 0; q < V; ++q) {
          if (best_at[q] < 0 || v[q] > best[q] || v[q] != v[q]) best[q] = v[q], best_at[q] = at;
        }
      }
    }
    ChannelVec<T, V>::store(output + e * V, best);
    if (a.indices != nullptr) IndexVec<V>::store(a.indices + e * V, best_at);
  }
}

struct MaxPoolBackwardArgs {
  const void* grad_output;
  const int64_t* indices;
  void* grad_input;
  Window32 g;
  DenseWalk walk;  // over grad_input [N, C, H, W]
  int64_t go_strides[4];
  int64_t idx_strides[4];
  bool adaptive;
};

template <typename T, int V, bool kChannelsLast, bool k64, bool kAdaptive>
__global__ void __launch_bounds__(kThreads, kMinBlocks) max_pool_bwd_kernel(const MaxPoolBackwardArgs a) {
  const T* __restrict__ grad_output = static_cast<const T*>(a.grad_output);
  const int64_t* __restrict__ indices = a.indices;
  T* __restrict__ grad_input = static_cast<T*>(a.grad_input);
  const int64_t* gs = a.go_strides;
  const int64_t* is = a.idx_strides;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 p = walk_coord<kChannelsLast, k64, V>(e, a.walk);
    const int y = static_cast<int>(p.y), x = static_cast<int>(p.x);
    const int64_t me = y * a.g.w.in + x;
    const T* g_plane = grad_output + p.n * gs[0] + p.c * gs[1];
    const int64_t* i_plane = indices + p.n * is[0] + p.c * is[1];
    float acc[V];
#pragma unroll
    for (int q = 0; q < V; ++q) acc[q] = 0.f;
    const CoverIter ch = cover_iter<kAdaptive>(a.g.h, y);
    const CoverIter cw = cover_iter<kAdaptive>(a.g.w, x);
    for (int i = 0; i < ch.taps; ++i) {
      const int oh = ch.output(a.g.h, kAdaptive, i);
      if (oh < 0) continue;
      for (int j = 0; j < cw.taps; ++j) {
        const int ow = cw.output(a.g.w, kAdaptive, j);
        if (ow < 0) continue;
        float g[V];
        ChannelVec<T, V>::load(g_plane + oh * gs[2] + ow * gs[3], g);
        int64_t at[V];  // V > 1: the launcher checked the indices' channel vectors
        IndexVec<V>::load(i_plane + oh * is[2] + ow * is[3], at);
#pragma unroll
        for (int q = 0; q < V; ++q) {
          if (at[q] == me) acc[q] += g[q];
        }
      }
    }
    ChannelVec<T, V>::store(grad_input + e * V, acc);
  }
}

#define CK_INSTANTIATE_MAX_POOL_1(T, V, CL, K64)                                                   \
  template __global__ void max_pool_fwd_kernel<T, V, CL, K64, false>(const MaxPoolArgs);          \
  template __global__ void max_pool_fwd_kernel<T, V, CL, K64, true>(const MaxPoolArgs);           \
  template __global__ void max_pool_bwd_kernel<T, V, CL, K64, false>(const MaxPoolBackwardArgs);  \
  template __global__ void max_pool_bwd_kernel<T, V, CL, K64, true>(const MaxPoolBackwardArgs);
#define CK_INSTANTIATE_MAX_POOL(T, V, CL) CK_INSTANTIATE_MAX_POOL_1(T, V, CL, false) CK_INSTANTIATE_MAX_POOL_1(T, V, CL, true)
CK_INSTANTIATE_MAX_POOL(float, 1, false)
CK_INSTANTIATE_MAX_POOL(float, 1, true)
CK_INSTANTIATE_MAX_POOL(float, 4, true)
CK_INSTANTIATE_MAX_POOL(__half, 1, false)
CK_INSTANTIATE_MAX_POOL(__half, 1, true)
CK_INSTANTIATE_MAX_POOL(__half, 8, true)
CK_INSTANTIATE_MAX_POOL(__nv_bfloat16, 1, false)
CK_INSTANTIATE_MAX_POOL(__nv_bfloat16, 1, true)
CK_INSTANTIATE_MAX_POOL(__nv_bfloat16, 8, true)
#undef CK_INSTANTIATE_MAX_POOL
#undef CK_INSTANTIATE_MAX_POOL_1


template <typename T, int V, bool CL, bool K64>
struct LaunchMaxFwd {
  static cudaError_t run(const MaxPoolArgs& a, int blocks, cudaStream_t stream) {
    if (a.adaptive) {
      max_pool_fwd_kernel<T, V, CL, K64, true><<<blocks, kThreads, 0, stream>>>(a);
    } else {
      max_pool_fwd_kernel<T, V, CL, K64, false><<<blocks, kThreads, 0, stream>>>(a);
    }
    return launch_status();
  }
};

template <typename T, int V, bool CL, bool K64>
struct LaunchMaxBwd {
  static cudaError_t run(const MaxPoolBackwardArgs& a, int blocks, cudaStream_t stream) {
    if (a.adaptive) {
      max_pool_bwd_kernel<T, V, CL, K64, true><<<blocks, kThreads, 0, stream>>>(a);
    } else {
      max_pool_bwd_kernel<T, V, CL, K64, false><<<blocks, kThreads, 0, stream>>>(a);
    }
    return launch_status();
  }
};

}  // namespace pool

cudaError_t launch_max_pool2d(const Pool2dParams& p, DType dtype, cudaStream_t stream) {
  using namespace pool;
  if (pool2d_limit_violation(p.N, p.C, p.window)[0] != '\0') return cudaErrorInvalidValue;
  MaxPoolArgs a;
  a.input = p.input, a.output = p.output, a.indices = p.indices;
  a.g = to_window32(p.window), a.adaptive = p.window.adaptive;
  for (int d = 0; d < 4; ++d) a.in_strides[d] = p.input_strides[d];
  const int V = 16 / dtype_size(dtype);
  // Output and indices are written dense in walk order: 16-byte aligned bases suffice.
  const bool vector = p.channels_last && channel_vectors_ok(p.input, p.input_strides, p.C, V) &&
                      pointer_aligned(p.output, 16) && (p.indices == nullptr || pointer_aligned(p.indices, 16));
  const int64_t OH = p.window.h.out, OW = p.window.w.out;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_layout<T, MaxPoolArgs, LaunchMaxFwd>(a, p.channels_last, vector, p.N, p.C, OH, OW,
                                                         p.force_int64, stream);
  });
}

cudaError_t launch_max_pool2d_backward(const Pool2dBackwardParams& p, DType dtype, cudaStream_t stream) {
  using namespace pool;
  if (pool2d_limit_violation(p.N, p.C, p.window)[0] != '\0') return cudaErrorInvalidValue;
  MaxPoolBackwardArgs a;
  a.grad_output = p.grad_output, a.indices = p.indices, a.grad_input = p.grad_input;
  a.g = to_window32(p.window), a.adaptive = p.window.adaptive;
  for (int d = 0; d < 4; ++d) a.go_strides[d] = p.grad_output_strides[d], a.idx_strides[d] = p.indices_strides[d];
  const int V = 16 / dtype_size(dtype);
  // The indices are read in pairs of int64 (IndexVec): 16-byte channel vectors of their own.
  const bool vector = p.channels_last && channel_vectors_ok(p.grad_output, p.grad_output_strides, p.C, V) &&
                      channel_vectors_ok(p.indices, p.indices_strides, p.C, 2) && pointer_aligned(p.grad_input, 16);
  const int64_t H = p.window.h.in, W = p.window.w.in;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_layout<T, MaxPoolBackwardArgs, LaunchMaxBwd>(a, p.channels_last, vector, p.N, p.C, H, W,
                                                                 p.force_int64, stream);
  });
}

}  // namespace convkernels
