// Average pooling (fixed windows with torch's ceil_mode / count_include_pad / divisor_override
// rules, and adaptive windows) forward, and its backward as a gather.
//
// Same structure as max_pool.cu: one thread per written element (a 16-byte channel vector in
// aligned channels_last), fp32 sums, one rounding. The backward gathers grad_output / divisor
// over the windows covering each input element: no atomics, deterministic, no zero-fill.
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

struct AvgPoolArgs {
  const void* source;  // forward: input; backward: grad_output
  void* dest;          // forward: output; backward: grad_input
  Window32 g;
  DenseWalk walk;  // over dest
  int64_t src_strides[4];
  bool adaptive;
  bool count_include_pad;
  int divisor_override;  // 0 = none
};

template <bool kAdaptive>
__device__ __forceinline__ float window_divisor(const AvgPoolArgs& a, int oh, int ow) {
  if constexpr (kAdaptive) {
    const WindowRange rh = window_range<true>(a.g.h, oh), rw = window_range<true>(a.g.w, ow);
    return static_cast<float>((rh.end - rh.first) * (rw.end - rw.first));
  } else {
    // 32-bit form of avg_pool_divisor (plane coordinates fit 32 bits; checked by the launcher).
    if (a.divisor_override > 0) return static_cast<float>(a.divisor_override);
    const int h0 = oh * static_cast<int>(a.g.h.stride) - static_cast<int>(a.g.h.pad);
    const int w0 = ow * static_cast<int>(a.g.w.stride) - static_cast<int>(a.g.w.pad);
    const int h1 = min(h0 + static_cast<int>(a.g.h.kernel), static_cast<int>(a.g.h.in + a.g.h.pad));
    const int w1 = min(w0 + static_cast<int>(a.g.w.kernel), static_cast<int>(a.g.w.in + a.g.w.pad));
    if (a.count_include_pad) return static_cast<float>((h1 - h0) * (w1 - w0));
    return static_cast<float>((min(h1, static_cast<int>(a.g.h.in)) - max(h0, 0)) *
                              (min(w1, static_cast<int>(a.g.w.in)) - max(w0, 0)));
  }
}

template <typename T, int V, bool kChannelsLast, bool k64, bool kAdaptive>
__global__ void __launch_bounds__(kThreads, kMinBlocks) avg_pool_fwd_kernel(const AvgPoolArgs a) {
  const T* __restrict__ input = static_cast<const T*>(a.source);
  T* __restrict__ output = static_cast<T*>(a.dest);
  const int64_t* s = a.src_strides;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 o = walk_coord<kChannelsLast, k64, V>(e, a.walk);
    const int oh = static_cast<int>(o.y), ow = static_cast<int>(o.x);
    const WindowRange rh = window_range<kAdaptive>(a.g.h, oh);
    const WindowRange rw = window_range<kAdaptive>(a.g.w, ow);
    const T* plane = input + o.n * s[0] + o.c * s[1];
    float acc[V];
#pragma unroll
    for (int q = 0; q < V; ++q) acc[q] = 0.f;
    for (int h = rh.first; h < rh.end; ++h) {  // average pools have no dilation
      for (int w = rw.first; w < rw.end; ++w) {
        float v[V];
        ChannelVec<T, V>::load(plane + h * s[2] + w * s[3], v);
#pragma unroll
        for (int q = 0; q < V; ++q) acc[q] += v[q];
      }
    }
    const float div = window_divisor<kAdaptive>(a, oh, ow);
#pragma unroll
    for (int q = 0; q < V; ++q) acc[q] /= div;  // as torch: the fp32 sum divided once
    ChannelVec<T, V>::store(output + e * V, acc);
  }
}

template <typename T, int V, bool kChannelsLast, bool k64, bool kAdaptive>
__global__ void __launch_bounds__(kThreads, kMinBlocks) avg_pool_bwd_kernel(const AvgPoolArgs a) {
  const T* __restrict__ grad_output = static_cast<const T*>(a.source);
  T* __restrict__ grad_input = static_cast<T*>(a.dest);
  const int64_t* s = a.src_strides;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 p = walk_coord<kChannelsLast, k64, V>(e, a.walk);
    const T* plane = grad_output + p.n * s[0] + p.c * s[1];
    const CoverIter ch = cover_iter<kAdaptive>(a.g.h, static_cast<int>(p.y));
    const CoverIter cw = cover_iter<kAdaptive>(a.g.w, static_cast<int>(p.x));
    float acc[V];
#pragma unroll
    for (int q = 0; q < V; ++q) acc[q] = 0.f;
    for (int i = 0; i < ch.taps; ++i) {
      const int oh = ch.output(a.g.h, kAdaptive, i);
      if (oh < 0) continue;
      for (int j = 0; j < cw.taps; ++j) {
        const int ow = cw.output(a.g.w, kAdaptive, j);
        if (ow < 0) continue;
        float g[V];
        ChannelVec<T, V>::load(plane + oh * s[2] + ow * s[3], g);
        const float div = window_divisor<kAdaptive>(a, oh, ow);
#pragma unroll
        for (int q = 0; q < V; ++q) acc[q] += g[q] / div;
      }
    }
    ChannelVec<T, V>::store(grad_input + e * V, acc);
  }
}

#define CK_INSTANTIATE_AVG_POOL_1(T, V, CL, K64)                                       \
  template __global__ void avg_pool_fwd_kernel<T, V, CL, K64, false>(const AvgPoolArgs); \
  template __global__ void avg_pool_fwd_kernel<T, V, CL, K64, true>(const AvgPoolArgs);  \
  template __global__ void avg_pool_bwd_kernel<T, V, CL, K64, false>(const AvgPoolArgs); \
  template __global__ void avg_pool_bwd_kernel<T, V, CL, K64, true>(const AvgPoolArgs);
#define CK_INSTANTIATE_AVG_POOL(T, V, CL) \
  CK_INSTANTIATE_AVG_POOL_1(T, V, CL, false) CK_INSTANTIATE_AVG_POOL_1(T, V, CL, true)
CK_INSTANTIATE_AVG_POOL(float, 1, false)
CK_INSTANTIATE_AVG_POOL(float, 1, true)
CK_INSTANTIATE_AVG_POOL(float, 4, true)
CK_INSTANTIATE_AVG_POOL(__half, 1, false)
CK_INSTANTIATE_AVG_POOL(__half, 1, true)
CK_INSTANTIATE_AVG_POOL(__half, 8, true)
CK_INSTANTIATE_AVG_POOL(__nv_bfloat16, 1, false)
CK_INSTANTIATE_AVG_POOL(__nv_bfloat16, 1, true)
CK_INSTANTIATE_AVG_POOL(__nv_bfloat16, 8, true)
#undef CK_INSTANTIATE_AVG_POOL
#undef CK_INSTANTIATE_AVG_POOL_1

template <typename T, int V, bool CL, bool K64>
struct LaunchAvgFwd {
  static cudaError_t run(const AvgPoolArgs& a, int blocks, cudaStream_t stream) {
    if (a.adaptive) {
      avg_pool_fwd_kernel<T, V, CL, K64, true><<<blocks, kThreads, 0, stream>>>(a);
    } else {
      avg_pool_fwd_kernel<T, V, CL, K64, false><<<blocks, kThreads, 0, stream>>>(a);
    }
    return launch_status();
  }
};

template <typename T, int V, bool CL, bool K64>
struct LaunchAvgBwd {
  static cudaError_t run(const AvgPoolArgs& a, int blocks, cudaStream_t stream) {
    if (a.adaptive) {
      avg_pool_bwd_kernel<T, V, CL, K64, true><<<blocks, kThreads, 0, stream>>>(a);
    } else {
      avg_pool_bwd_kernel<T, V, CL, K64, false><<<blocks, kThreads, 0, stream>>>(a);
    }
    return launch_status();
  }
};

template <template <typename, int, bool, bool> class Launch>
cudaError_t launch_avg(const AvgPoolArgs& a, DType dtype, bool channels_last, int64_t N, int64_t C, int64_t Y,
                       int64_t X, bool force_int64, cudaStream_t stream) {
  const int V = 16 / dtype_size(dtype);
  const bool vector = channels_last && channel_vectors_ok(a.source, a.src_strides, C, V) && pointer_aligned(a.dest, 16);
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_layout<T, AvgPoolArgs, Launch>(a, channels_last, vector, N, C, Y, X, force_int64, stream);
  });
}

}  // namespace pool

cudaError_t launch_avg_pool2d(const Pool2dParams& p, DType dtype, cudaStream_t stream) {
  using namespace pool;
  if (pool2d_limit_violation(p.N, p.C, p.window)[0] != '\0') return cudaErrorInvalidValue;
  AvgPoolArgs a;
  a.source = p.input, a.dest = p.output;
  a.g = to_window32(p.window), a.adaptive = p.window.adaptive;
  a.count_include_pad = p.count_include_pad, a.divisor_override = static_cast<int>(p.divisor_override);
  for (int d = 0; d < 4; ++d) a.src_strides[d] = p.input_strides[d];
  return launch_avg<LaunchAvgFwd>(a, dtype, p.channels_last, p.N, p.C, p.window.h.out, p.window.w.out,
                                  p.force_int64, stream);
}

cudaError_t launch_avg_pool2d_backward(const Pool2dBackwardParams& p, DType dtype, cudaStream_t stream) {
  using namespace pool;
  if (pool2d_limit_violation(p.N, p.C, p.window)[0] != '\0') return cudaErrorInvalidValue;
  AvgPoolArgs a;
  a.source = p.grad_output, a.dest = p.grad_input;
  a.g = to_window32(p.window), a.adaptive = p.window.adaptive;
  a.count_include_pad = p.count_include_pad, a.divisor_override = static_cast<int>(p.divisor_override);
  for (int d = 0; d < 4; ++d) a.src_strides[d] = p.grad_output_strides[d];
  return launch_avg<LaunchAvgBwd>(a, dtype, p.channels_last, p.N, p.C, p.window.h.in, p.window.w.in, p.force_int64,
                                  stream);
}

}  // namespace convkernels
