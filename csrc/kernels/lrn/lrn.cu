// Local response normalization, forward and fused backward.
//
// One thread per element, walking the output in its memory order. The channel window is read
// directly (size loads per element) rather than kept as a running sum: neighbours along C are
// the same or adjacent cache lines in channels_last and the same lines one plane apart in NCHW,
// so DRAM still sees one read of x per pass; the sum is exact in order (no add/subtract drift
// of a sliding sum, which can lose the small terms when a large value leaves the window).
// Backward recomputes s_c from x instead of saving s in the forward (one tensor less to write
// and read). For size <= kMaxRegisterSize it loads the 2*size - 1 channels around j and the
// size gradients once into registers and forms every s_c there (the same ascending sums as
// the forward, so s is bit-identical); larger windows fall back to re-reading the window of
// each c through the cache (size^2 loads).
//
//   dx_j = g_j s_j^-beta - (2 alpha beta / size) x_j sum_{c in [j-(size-1)/2, j+size/2]} g_c x_c s_c^(-beta-1)
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "lrn/lrn.h"
#include "lrn/lrn_common.cuh"
#include "pool/pool_common.cuh"

namespace convkernels {
namespace lrn {

using pool::Coord4;
using pool::DenseWalk;
using pool::kInt32Max;
using pool::kMinBlocks;
using pool::kThreads;

struct LrnArgs {
  const void* input;
  const void* grad_output;
  void* output;
  DenseWalk walk;  // over output [N, C, H, W]
  int64_t x_strides[4];
  int64_t g_strides[4];
  LrnConstants lrn;
};

template <typename T, bool kChannelsLast, bool k64>
__global__ void __launch_bounds__(kThreads, kMinBlocks) lrn_fwd_kernel(const LrnArgs a) {
  const T* __restrict__ input = static_cast<const T*>(a.input);
  T* __restrict__ output = static_cast<T*>(a.output);
  const int64_t* s = a.x_strides;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 p = pool::walk_coord<kChannelsLast, k64, 1>(e, a.walk);
    const T* pixel = input + p.n * s[0] + p.y * s[2] + p.x * s[3];
    const int c = static_cast<int>(p.c);
    const float x = load_as_float(pixel + c * s[1]);
    const float scale = lrn_scale(pixel, s[1], c, a.lrn);
    store_from_float(output + e, x * lrn_pow(scale, -a.lrn.beta));
  }
}

template <typename T, bool kChannelsLast, bool k64>
__global__ void __launch_bounds__(kThreads, kMinBlocks) lrn_bwd_kernel(const LrnArgs a) {
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const T* __restrict__ grad_output = static_cast<const T*>(a.grad_output);
  T* __restrict__ grad_input = static_cast<T*>(a.output);
  const int64_t* xs = a.x_strides;
  const int64_t* gs = a.g_strides;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 p = pool::walk_coord<kChannelsLast, k64, 1>(e, a.walk);
    const T* x_pixel = input + p.n * xs[0] + p.y * xs[2] + p.x * xs[3];
    const T* g_pixel = grad_output + p.n * gs[0] + p.y * gs[2] + p.x * gs[3];
    const int j = static_cast<int>(p.c);
    const int first = max(j - (a.lrn.size - 1) / 2, 0);
    const int last = min(j + a.lrn.size / 2, a.lrn.channels - 1);
    float cross = 0.f;
    for (int c = first; c <= last; ++c) {
      const float xc = load_as_float(x_pixel + c * xs[1]);
      const float gc = load_as_float(g_pixel + c * gs[1]);
      cross += gc * xc * lrn_pow(lrn_scale(x_pixel, xs[1], c, a.lrn), -a.lrn.beta - 1.f);
    }
    const float xj = load_as_float(x_pixel + j * xs[1]);
    const float gj = load_as_float(g_pixel + j * gs[1]);
    const float sj = lrn_scale(x_pixel, xs[1], j, a.lrn);
    const float gx = gj * lrn_pow(sj, -a.lrn.beta) - 2.f * a.lrn.alpha_over_size * a.lrn.beta * xj * cross;
    store_from_float(grad_input + e, gx);
  }
}

// Channels of the backward's register window: j's reverse window and, around each of its
// channels, that channel's own window: [j - (size-1), j + (size-1)].
constexpr int kMaxRegisterSize = 5;  // AlexNet, ZFNet and GoogLeNet use 5; 7 already puts the arrays in local memory

template <typename T, bool kChannelsLast, bool k64>
__global__ void __launch_bounds__(kThreads, kMinBlocks) lrn_bwd_register_kernel(const LrnArgs a) {
  constexpr int kSpan = 2 * kMaxRegisterSize - 1;
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const T* __restrict__ grad_output = static_cast<const T*>(a.grad_output);
  T* __restrict__ grad_input = static_cast<T*>(a.output);
  const int64_t* xs = a.x_strides;
  const int64_t* gs = a.g_strides;
  const int size = a.lrn.size, C = a.lrn.channels;
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 p = pool::walk_coord<kChannelsLast, k64, 1>(e, a.walk);
    const T* x_pixel = input + p.n * xs[0] + p.y * xs[2] + p.x * xs[3];
    const T* g_pixel = grad_output + p.n * gs[0] + p.y * gs[2] + p.x * gs[3];
    const int j = static_cast<int>(p.c);
    const int lo = j - (size - 1);           // channel of x[0]
    const int g_lo = j - (size - 1) / 2;     // channel of g[0]: first c whose window holds j
    float x[kSpan], g[kMaxRegisterSize];
#pragma unroll
    for (int t = 0; t < kSpan; ++t) {
      const int c = lo + t;
      x[t] = (t < 2 * size - 1 && c >= 0 && c < C) ? load_as_float(x_pixel + c * xs[1]) : 0.f;
    }
#pragma unroll
    for (int m = 0; m < kMaxRegisterSize; ++m) {
      const int c = g_lo + m;
      g[m] = (m < size && c >= 0 && c < C) ? load_as_float(g_pixel + c * gs[1]) : 0.f;
    }
    // Channel c = g_lo + m has its window at x[m .. m + size - 1] and its value at x[m + size/2];
    // j itself is m = (size-1)/2. Every register index is a compile-time constant after
    // unrolling (runtime ones would put the arrays in local memory).
    float cross = 0.f, s_j = 1.f, xj = 0.f, gj = 0.f;
#pragma unroll
    for (int m = 0; m < kMaxRegisterSize; ++m) {
      float sum = 0.f, xc = 0.f;
#pragma unroll
      for (int t = 0; t < kMaxRegisterSize; ++t) {
        if (t < size) sum += x[m + t] * x[m + t];
        if (t == size / 2) xc = x[m + t];
      }
      const float s_c = a.lrn.k + a.lrn.alpha_over_size * sum;
      if (m == (size - 1) / 2) s_j = s_c, xj = xc, gj = g[m];
      const int c = g_lo + m;
      if (m < size && c >= 0 && c < C) cross += g[m] * xc * lrn_pow(s_c, -a.lrn.beta - 1.f);
    }
    const float gx = gj * lrn_pow(s_j, -a.lrn.beta) - 2.f * a.lrn.alpha_over_size * a.lrn.beta * xj * cross;
    store_from_float(grad_input + e, gx);
  }
}

#define CK_INSTANTIATE_LRN(T, CL, K64)                                      \
  template __global__ void lrn_fwd_kernel<T, CL, K64>(const LrnArgs);       \
  template __global__ void lrn_bwd_kernel<T, CL, K64>(const LrnArgs);       \
  template __global__ void lrn_bwd_register_kernel<T, CL, K64>(const LrnArgs);
#define CK_INSTANTIATE_LRN_T(T) \
  CK_INSTANTIATE_LRN(T, false, false) CK_INSTANTIATE_LRN(T, false, true) CK_INSTANTIATE_LRN(T, true, false) CK_INSTANTIATE_LRN(T, true, true)
CK_INSTANTIATE_LRN_T(float)
CK_INSTANTIATE_LRN_T(__half)
CK_INSTANTIATE_LRN_T(__nv_bfloat16)
#undef CK_INSTANTIATE_LRN_T
#undef CK_INSTANTIATE_LRN

template <typename T>
cudaError_t launch_typed(const LrnArgs& a, bool backward, bool channels_last, bool k64, cudaStream_t stream) {
  const int blocks = pool::grid_blocks(a.walk.count);
#define CK_LRN_LAUNCH(CL, K64)                                                    \
  if (!backward) {                                                               \
    lrn_fwd_kernel<T, CL, K64><<<blocks, kThreads, 0, stream>>>(a);              \
  } else if (a.lrn.size <= kMaxRegisterSize) {                                   \
    lrn_bwd_register_kernel<T, CL, K64><<<blocks, kThreads, 0, stream>>>(a);     \
  } else {                                                                       \
    lrn_bwd_kernel<T, CL, K64><<<blocks, kThreads, 0, stream>>>(a);              \
  }
  if (channels_last) {
    if (k64) { CK_LRN_LAUNCH(true, true) } else { CK_LRN_LAUNCH(true, false) }
  } else {
    if (k64) { CK_LRN_LAUNCH(false, true) } else { CK_LRN_LAUNCH(false, false) }
  }
#undef CK_LRN_LAUNCH
  return launch_status();
}

cudaError_t launch(const LrnParams& p, DType dtype, bool backward, cudaStream_t stream) {
  if (lrn_limit_violation(p)[0] != '\0') return cudaErrorInvalidValue;
  LrnArgs a;
  a.input = p.input, a.grad_output = p.grad_output, a.output = p.output;
  a.walk = pool::make_walk(p.N, p.C, p.H, p.W, 1);
  if (a.walk.count == 0) return cudaSuccess;
  for (int d = 0; d < 4; ++d) a.x_strides[d] = p.input_strides[d], a.g_strides[d] = p.grad_output_strides[d];
  a.lrn = make_constants(p.lrn, p.C);
  const bool k64 = p.force_int64 || a.walk.count > kInt32Max;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_typed<T>(a, backward, p.channels_last, k64, stream);
  });
}

}  // namespace lrn

const char* lrn_limit_violation(const LrnParams& p) {
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0) return "negative size";
  if (p.C + p.lrn.size > lrn::kInt32Max / 2 || p.lrn.size < 1) return "C and size must be below 2^30";
  return "";
}

cudaError_t launch_local_response_norm(const LrnParams& p, DType dtype, cudaStream_t stream) {
  return lrn::launch(p, dtype, false, stream);
}

cudaError_t launch_local_response_norm_backward(const LrnParams& p, DType dtype, cudaStream_t stream) {
  return lrn::launch(p, dtype, true, stream);
}

}  // namespace convkernels
