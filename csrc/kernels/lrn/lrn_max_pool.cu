// LRN fused with an overlapping max-pool, in either order, reading the input once from DRAM.
//
// One thread per pooled output element (n, c, oh, ow):
//  * LRN then pool (AlexNet norm1 -> pool1): for each tap of the window, the normalized value
//    x_c s_c^-beta at (h, w) (the channel window comes from cache), max with torch's NaN rule;
//  * pool then LRN (GoogLeNet pool1 -> norm1): the max over the window for each channel of c's
//    LRN window, the LRN of the centre one over those maxima.
// The LRN intermediate (the size of the input) is never written: one read of the input, one
// write of the (4x smaller, for 3x3/2) output. Recomputation is on cached data.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "lrn/lrn.h"
#include "lrn/lrn_common.cuh"
#include "pool/pool.h"
#include "pool/pool_common.cuh"

namespace convkernels {
namespace lrn {

using pool::Coord4;
using pool::kMinBlocks;
using pool::kThreads;
using pool::WindowRange;

struct LrnMaxPoolArgs {
  const void* input;
  void* output;
  int64_t* indices;
  pool::Window32 g;
  pool::DenseWalk walk;  // over output [N, C, OH, OW]
  int64_t x_strides[4];
  LrnConstants lrn;
};

// Max over the window of one channel plane with torch's rule (greater or NaN replaces; ties keep
// the first tap). Returns the value; `at` receives h * W + w.
template <typename T>
__device__ __forceinline__ float window_max(const T* plane, const int64_t* s, const WindowRange& rh,
                                            const WindowRange& rw, int W, int& at) {
  float best = 0.f;
  at = -1;
  for (int h = rh.first; h < rh.end; h += rh.step) {
    for (int w = rw.first; w < rw.end; w += rw.step) {
      const float v = load_as_float(plane + h * s[2] + w * s[3]);
      if (at < 0 || v > best || v != v) best = v, at = h * W + w;
    }
  }
  return best;
}

template <typename T, bool kChannelsLast, bool k64, bool kPoolFirst>
__global__ void __launch_bounds__(kThreads, kMinBlocks) lrn_max_pool_kernel(const LrnMaxPoolArgs a) {
  const T* __restrict__ input = static_cast<const T*>(a.input);
  T* __restrict__ output = static_cast<T*>(a.output);
  const int64_t* s = a.x_strides;
  const int W = a.g.w.in;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 o = pool::walk_coord<kChannelsLast, k64, 1>(e, a.walk);
    const int c = static_cast<int>(o.c);
    const WindowRange rh = pool::window_range<false>(a.g.h, static_cast<int>(o.y));
    const WindowRange rw = pool::window_range<false>(a.g.w, static_cast<int>(o.x));
    const T* image = input + o.n * s[0];
    float result;
    int at;
    if constexpr (kPoolFirst) {
      const int first = max(c - a.lrn.size / 2, 0);
      const int last = min(c + (a.lrn.size - 1) / 2, a.lrn.channels - 1);
      float sum = 0.f, centre = 0.f;
      at = -1;
      for (int t = first; t <= last; ++t) {
        int t_at;
        const float m = window_max(image + t * s[1], s, rh, rw, W, t_at);
        sum += m * m;
        if (t == c) centre = m, at = t_at;
      }
      result = centre * lrn_pow(a.lrn.k + a.lrn.alpha_over_size * sum, -a.lrn.beta);
    } else {
      result = 0.f, at = -1;
      for (int h = rh.first; h < rh.end; h += rh.step) {
        for (int w = rw.first; w < rw.end; w += rw.step) {
          const T* pixel = image + h * s[2] + w * s[3];
          const float v = load_as_float(pixel + c * s[1]) * lrn_pow(lrn_scale(pixel, s[1], c, a.lrn), -a.lrn.beta);
          if (at < 0 || v > result || v != v) result = v, at = h * W + w;
        }
      }
    }
    store_from_float(output + e, result);
    if (a.indices != nullptr) a.indices[e] = at;
  }
}

#define CK_INSTANTIATE_LRN_POOL(T, CL, K64)                                                 \
  template __global__ void lrn_max_pool_kernel<T, CL, K64, false>(const LrnMaxPoolArgs);    \
  template __global__ void lrn_max_pool_kernel<T, CL, K64, true>(const LrnMaxPoolArgs);
#define CK_INSTANTIATE_LRN_POOL_T(T)                                                       \
  CK_INSTANTIATE_LRN_POOL(T, false, false) CK_INSTANTIATE_LRN_POOL(T, false, true)         \
  CK_INSTANTIATE_LRN_POOL(T, true, false) CK_INSTANTIATE_LRN_POOL(T, true, true)
CK_INSTANTIATE_LRN_POOL_T(float)
CK_INSTANTIATE_LRN_POOL_T(__half)
CK_INSTANTIATE_LRN_POOL_T(__nv_bfloat16)
#undef CK_INSTANTIATE_LRN_POOL_T
#undef CK_INSTANTIATE_LRN_POOL

template <typename T, bool kChannelsLast, bool k64>
cudaError_t launch_order(const LrnMaxPoolArgs& a, bool pool_first, cudaStream_t stream) {
  const int blocks = pool::grid_blocks(a.walk.count);
  if (pool_first) {
    lrn_max_pool_kernel<T, kChannelsLast, k64, true><<<blocks, kThreads, 0, stream>>>(a);
  } else {
    lrn_max_pool_kernel<T, kChannelsLast, k64, false><<<blocks, kThreads, 0, stream>>>(a);
  }
  return launch_status();
}

template <typename T>
cudaError_t launch_typed(const LrnMaxPoolArgs& a, bool pool_first, bool channels_last, bool k64,
                         cudaStream_t stream) {
  if (channels_last) {
    return k64 ? launch_order<T, true, true>(a, pool_first, stream) : launch_order<T, true, false>(a, pool_first, stream);
  }
  return k64 ? launch_order<T, false, true>(a, pool_first, stream) : launch_order<T, false, false>(a, pool_first, stream);
}

}  // namespace lrn

cudaError_t launch_lrn_max_pool2d(const LrnMaxPoolParams& p, DType dtype, cudaStream_t stream) {
  using namespace lrn;
  if (pool2d_limit_violation(p.N, p.C, p.window)[0] != '\0' || p.window.adaptive) return cudaErrorInvalidValue;
  if (p.C + p.lrn.size > pool::kInt32Max / 2 || p.lrn.size < 1) return cudaErrorInvalidValue;
  LrnMaxPoolArgs a;
  a.input = p.input, a.output = p.output, a.indices = p.indices;
  a.g = pool::to_window32(p.window);
  a.walk = pool::make_walk(p.N, p.C, p.window.h.out, p.window.w.out, 1);
  if (a.walk.count == 0) return cudaSuccess;
  for (int d = 0; d < 4; ++d) a.x_strides[d] = p.input_strides[d];
  a.lrn = make_constants(p.lrn, p.C);
  const bool k64 = p.force_int64 || a.walk.count > pool::kInt32Max;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_typed<T>(a, p.pool_first, p.channels_last, k64, stream);
  });
}

}  // namespace convkernels
