// Depthwise backward kernels (groups == C, weight [K, 1, R, S], K = multiplier * C).
//
// Input gradient: a gather. One thread per grad_input element (channel-fastest order when
// grad_input is NHWC, w-fastest otherwise) sums grad_output[n, c*mult+m, p, q] * weight over the
// output pixels whose window covers it (p*stride = h + pad - r*dil). One write, no atomics.
//
// Weight gradient: the reduction over N*P*Q per (k, r, s) that PyTorch's native depthwise
// backward does slowest. Stage 1: a CTA owns kChannels channels x one chunk of output pixels;
// each thread walks its share of the chunk, loads grad_output once per pixel and keeps all R*S
// tap partials in registers (R*S <= 49 for the specialized sizes), then a fixed-order shared
// memory tree reduces the pixel lanes. Partials go to workspace[chunk][k][r*S+s]. Stage 2 sums the
// chunks in order. Chunk count depends only on the shape: the same bits on every GPU and run.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "depthwise/depthwise.h"
#include "depthwise/grouped_shape.h"

namespace convkernels {
namespace depthwise {
namespace {
constexpr int kBackwardThreads = 256;
constexpr int kPixelsPerChunk = 4096;  // stage-1 work per CTA; also bounds the chunk count
constexpr int kMaxChunks = 256;
}  // namespace

struct DepthwiseBackwardArgs {
  const void* grad_output;
  const void* input;
  const void* weight;
  void* grad_input;
  void* grad_weight;
  float* workspace;
  Geometry g;  // Cg = 1, Kg = multiplier
  FastDivmod div_a, div_b, div_c;  // index decomposition (see each kernel)
  int chunks, chunk_len;
  int64_t grad_output_strides[4];
  int64_t input_strides[4];
  int64_t weight_strides[4];
  int64_t grad_input_strides[4];
};

// ---- input gradient --------------------------------------------------------------------------

template <typename T, int KR, int KS, bool kChannelsInner>
__global__ void __launch_bounds__(kBackwardThreads)
    depthwise_backward_input_kernel(const DepthwiseBackwardArgs args, const int total) {
  const int idx = blockIdx.x * kBackwardThreads + threadIdx.x;
  if (idx >= total) return;
  const Geometry& g = args.g;
  int n, c, h, w, rest, rest2;
  if (kChannelsInner) {  // idx = ((n*H + h)*W + w)*C + c
    args.div_a.divmod(idx, rest, c);
    args.div_b.divmod(rest, rest2, w);
    args.div_c.divmod(rest2, n, h);
  } else {  // idx = ((n*C + c)*H + h)*W + w
    args.div_a.divmod(idx, rest, w);
    args.div_b.divmod(rest, rest2, h);
    args.div_c.divmod(rest2, n, c);
  }
  const int R = KR > 0 ? KR : g.R;
  const int S = KS > 0 ? KS : g.S;
  const T* __restrict__ dy = static_cast<const T*>(args.grad_output);
  const T* __restrict__ wt = static_cast<const T*>(args.weight);
  const int64_t* ds = args.grad_output_strides;
  const int64_t* ws = args.weight_strides;
  float acc = 0.f;
  for (int m = 0; m < g.Kg; ++m) {
    const int k = c * g.Kg + m;
    const int64_t dy_base = n * ds[0] + k * ds[1];
    const int64_t w_base = k * ws[0];
#pragma unroll 1
    for (int r = 0; r < R; ++r) {
      const int p = output_coordinate(h, r, g.stride_h, g.pad_h, g.dil_h, g.P);
      if (p < 0) continue;
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const int q = output_coordinate(w, s, g.stride_w, g.pad_w, g.dil_w, g.Q);
        if (q < 0) continue;
        acc = fmaf(load_as_float(dy + (dy_base + p * ds[2] + q * ds[3])), load_as_float(wt + (w_base + r * ws[2] + s * ws[3])),
                   acc);
      }
    }
  }
  const int64_t* gs = args.grad_input_strides;
  store_from_float(static_cast<T*>(args.grad_input) + (n * gs[0] + c * gs[1] + h * gs[2] + w * gs[3]), acc);
}

// ---- weight gradient, stage 1 -----------------------------------------------------------------

// kChannels channels per CTA (32 for NHWC: a warp reads 32 adjacent channels of one pixel; 1 for
// NCHW: the whole CTA walks one channel's contiguous pixels). kTaps taps per pass: R*S when it is
// compile-time, else 1 (the generic path makes R*S passes over the chunk).
template <typename T, int KR, int KS, int kChannels>
__global__ void __launch_bounds__(kBackwardThreads) depthwise_backward_weight_partial_kernel(const DepthwiseBackwardArgs args) {
  constexpr int kLanes = kBackwardThreads / kChannels;  // pixel lanes per channel
  constexpr int kTaps = (KR > 0 && KS > 0) ? KR * KS : 1;
  __shared__ float reduce_buffer[kBackwardThreads];
  const Geometry& g = args.g;
  const int lane_c = threadIdx.x % kChannels;
  const int lane_px = threadIdx.x / kChannels;
  const int k = blockIdx.x * kChannels + lane_c;
  const bool k_ok = k < g.K;
  const int kk = k_ok ? k : g.K - 1;
  const int c = kk / g.Kg;
  const int chunk = blockIdx.y;
  const int px_begin = chunk * args.chunk_len;
  const int px_end = min(px_begin + args.chunk_len, g.N * g.P * g.Q);
  const int S = KS > 0 ? KS : g.S;
  const int taps = (KR > 0 ? KR : g.R) * S;
  const T* __restrict__ dy = static_cast<const T*>(args.grad_output);
  const T* __restrict__ x = static_cast<const T*>(args.input);
  const int64_t* ds = args.grad_output_strides;
  const int64_t* is = args.input_strides;

  for (int tap0 = 0; tap0 < taps; tap0 += kTaps) {
    float acc[kTaps];
#pragma unroll
    for (int t = 0; t < kTaps; ++t) acc[t] = 0.f;
#pragma unroll 1
    for (int px = px_begin + lane_px; px < px_end; px += kLanes) {
      int n, p, q, pq;
      args.div_a.divmod(px, n, pq);  // div_a = P*Q
      args.div_b.divmod(pq, p, q);   // div_b = Q
      const float d = load_as_float(dy + (n * ds[0] + kk * ds[1] + p * ds[2] + q * ds[3]));
      const int64_t x_base = n * is[0] + c * is[1];
#pragma unroll
      for (int t = 0; t < kTaps; ++t) {
        const int tap = tap0 + t;
        const int r = tap / S, s = tap - (tap / S) * S;
        const int h = input_coordinate(p, r, g.stride_h, g.pad_h, g.dil_h, g.H);
        const int w = input_coordinate(q, s, g.stride_w, g.pad_w, g.dil_w, g.W);
        if (h >= 0 && w >= 0) {
          acc[t] = fmaf(d, load_as_float(x + (x_base + h * is[2] + w * is[3])), acc[t]);
        }
      }
    }
    // Fixed-order tree over the pixel lanes of each channel: deterministic. Unrolled so acc[t]
    // stays in registers (a rolled loop indexes acc dynamically and sends it to local memory).
#pragma unroll
    for (int t = 0; t < kTaps; ++t) {
      reduce_buffer[threadIdx.x] = acc[t];
      __syncthreads();
#pragma unroll
      for (int half = kLanes / 2; half > 0; half /= 2) {
        if (lane_px < half) reduce_buffer[threadIdx.x] += reduce_buffer[threadIdx.x + half * kChannels];
        __syncthreads();
      }
      if (lane_px == 0 && k_ok) {
        args.workspace[(static_cast<int64_t>(chunk) * g.K + k) * taps + tap0 + t] = reduce_buffer[lane_c];
      }
      __syncthreads();
    }
  }
}

// ---- weight gradient, stage 2 -----------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kBackwardThreads) depthwise_backward_weight_finish_kernel(const DepthwiseBackwardArgs args) {
  const int per_chunk = args.g.K * args.g.R * args.g.S;
  const int i = blockIdx.x * kBackwardThreads + threadIdx.x;  // (k, r, s) of the dense [K,1,R,S] grad
  if (i >= per_chunk) return;
  float sum = 0.f;
  for (int chunk = 0; chunk < args.chunks; ++chunk) sum += args.workspace[static_cast<int64_t>(chunk) * per_chunk + i];
  store_from_float(static_cast<T*>(args.grad_weight) + i, sum);
}

#define CK_DW_INSTANTIATE_TAPS(T, KR)                                                                             \
  template __global__ void depthwise_backward_input_kernel<T, KR, KR, true>(const DepthwiseBackwardArgs, const int); \
  template __global__ void depthwise_backward_input_kernel<T, KR, KR, false>(const DepthwiseBackwardArgs, const int); \
  template __global__ void depthwise_backward_weight_partial_kernel<T, KR, KR, 32>(const DepthwiseBackwardArgs);     \
  template __global__ void depthwise_backward_weight_partial_kernel<T, KR, KR, 1>(const DepthwiseBackwardArgs);
#define CK_DW_INSTANTIATE(T)   \
  CK_DW_INSTANTIATE_TAPS(T, 0) \
  CK_DW_INSTANTIATE_TAPS(T, 3) \
  CK_DW_INSTANTIATE_TAPS(T, 5) \
  CK_DW_INSTANTIATE_TAPS(T, 7) \
  template __global__ void depthwise_backward_weight_finish_kernel<T>(const DepthwiseBackwardArgs);
CK_DW_INSTANTIATE(float)
CK_DW_INSTANTIATE(__half)
CK_DW_INSTANTIATE(__nv_bfloat16)
#undef CK_DW_INSTANTIATE
#undef CK_DW_INSTANTIATE_TAPS

namespace {

DepthwiseBackwardArgs make_args(const DepthwiseBackwardParams& p) {
  DepthwiseBackwardArgs a;
  a.grad_output = p.grad_output, a.input = p.input, a.weight = p.weight;
  a.grad_input = p.grad_input, a.grad_weight = p.grad_weight, a.workspace = p.workspace;
  Geometry& g = a.g;
  g.N = int(p.N), g.C = int(p.C), g.H = int(p.H), g.W = int(p.W), g.K = int(p.K), g.R = int(p.R), g.S = int(p.S);
  g.P = int(p.P), g.Q = int(p.Q);
  g.stride_h = int(p.stride_h), g.stride_w = int(p.stride_w), g.pad_h = int(p.pad_h), g.pad_w = int(p.pad_w);
  g.dil_h = int(p.dil_h), g.dil_w = int(p.dil_w);
  g.Cg = 1, g.Kg = int(p.K / p.C);
  for (int d = 0; d < 4; ++d) {
    a.grad_output_strides[d] = p.grad_output_strides[d];
    a.input_strides[d] = p.input_strides[d];
    a.weight_strides[d] = p.weight_strides[d];
    a.grad_input_strides[d] = p.grad_input_strides[d];
  }
  const int pixels = g.N * g.P * g.Q;
  a.chunks = std::max(1, std::min(kMaxChunks, ceil_div(pixels, kPixelsPerChunk)));
  a.chunk_len = std::max(1, ceil_div(pixels, a.chunks));
  return a;
}

int square_taps(const Geometry& g) { return (g.R == g.S && (g.R == 3 || g.R == 5 || g.R == 7)) ? g.R : 0; }

template <typename T, int KR>
cudaError_t launch_input_taps(const DepthwiseBackwardArgs& a, bool channels_inner, int total, cudaStream_t stream) {
  const dim3 grid(ceil_div(total, kBackwardThreads));
  if (channels_inner) {
    depthwise_backward_input_kernel<T, KR, KR, true><<<grid, kBackwardThreads, 0, stream>>>(a, total);
  } else {
    depthwise_backward_input_kernel<T, KR, KR, false><<<grid, kBackwardThreads, 0, stream>>>(a, total);
  }
  return launch_status();
}

template <typename T>
cudaError_t launch_input(DepthwiseBackwardArgs a, bool channels_inner, cudaStream_t stream) {
  const Geometry& g = a.g;
  const int total = g.N * g.C * g.H * g.W;
  if (channels_inner) {
    a.div_a = FastDivmod(g.C), a.div_b = FastDivmod(g.W), a.div_c = FastDivmod(g.H);
  } else {
    a.div_a = FastDivmod(g.W), a.div_b = FastDivmod(g.H), a.div_c = FastDivmod(g.C);
  }
  switch (square_taps(g)) {
    case 3:
      return launch_input_taps<T, 3>(a, channels_inner, total, stream);
    case 5:
      return launch_input_taps<T, 5>(a, channels_inner, total, stream);
    case 7:
      return launch_input_taps<T, 7>(a, channels_inner, total, stream);
    default:
      return launch_input_taps<T, 0>(a, channels_inner, total, stream);
  }
}

template <typename T, int KR>
cudaError_t launch_weight_taps(const DepthwiseBackwardArgs& a, bool channels_inner, cudaStream_t stream) {
  if (channels_inner) {
    const dim3 grid(ceil_div(a.g.K, 32), a.chunks);
    depthwise_backward_weight_partial_kernel<T, KR, KR, 32><<<grid, kBackwardThreads, 0, stream>>>(a);
  } else {
    const dim3 grid(a.g.K, a.chunks);
    depthwise_backward_weight_partial_kernel<T, KR, KR, 1><<<grid, kBackwardThreads, 0, stream>>>(a);
  }
  const cudaError_t err = launch_status();
  if (err != cudaSuccess) return err;
  const int per_chunk = a.g.K * a.g.R * a.g.S;
  depthwise_backward_weight_finish_kernel<T><<<ceil_div(per_chunk, kBackwardThreads), kBackwardThreads, 0, stream>>>(a);
  return launch_status();
}

template <typename T>
cudaError_t launch_weight(DepthwiseBackwardArgs a, bool channels_inner, cudaStream_t stream) {
  a.div_a = FastDivmod(a.g.P * a.g.Q), a.div_b = FastDivmod(a.g.Q);
  switch (square_taps(a.g)) {
    case 3:
      return launch_weight_taps<T, 3>(a, channels_inner, stream);
    case 5:
      return launch_weight_taps<T, 5>(a, channels_inner, stream);
    case 7:
      return launch_weight_taps<T, 7>(a, channels_inner, stream);
    default:
      return launch_weight_taps<T, 0>(a, channels_inner, stream);
  }
}

}  // namespace
}  // namespace depthwise

const char* depthwise_backward_index_limit_violation(const DepthwiseBackwardParams& p) {
  using depthwise::kInt32Limit;
  const int64_t extents[] = {p.N, p.C, p.H, p.W, p.K, p.R, p.S, p.P, p.Q,
                             p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
  for (int64_t e : extents) {
    if (e < 0 || e > kInt32Limit) return "a size, stride, padding or dilation does not fit in 32 bits";
  }
  if (p.C <= 0 || p.K % p.C != 0) return "K must be a multiple of C (depthwise channel multiplier)";
  const int64_t limit = kInt32Limit - depthwise::kBackwardThreads;
  if (p.N * p.C * p.H * p.W > limit) return "N*C*H*W (input elements) must be < 2^31";
  if (p.N * p.K * p.P * p.Q > limit) return "N*K*P*Q (output elements) must be < 2^31";
  if (p.H + p.pad_h + p.R * p.dil_h >= (int64_t(1) << 30) || p.W + p.pad_w + p.S * p.dil_w >= (int64_t(1) << 30) ||
      p.P * p.stride_h + p.R * p.dil_h >= (int64_t(1) << 30) || p.Q * p.stride_w + p.S * p.dil_w >= (int64_t(1) << 30)) {
    return "spatial extents must be < 2^30";
  }
  return "";
}

int64_t depthwise_weight_grad_workspace_floats(const DepthwiseBackwardParams& p) {
  if (depthwise_backward_index_limit_violation(p)[0] != '\0') return 0;
  return int64_t(depthwise::make_args(p).chunks) * p.K * p.R * p.S;
}

cudaError_t launch_depthwise_backward_input(const DepthwiseBackwardParams& p, DType dtype, cudaStream_t stream) {
  using namespace depthwise;
  if (depthwise_backward_index_limit_violation(p)[0] != '\0') return cudaErrorInvalidValue;
  if (p.N * p.C * p.H * p.W == 0) return cudaSuccess;
  const bool channels_inner = p.grad_input_strides[1] == 1 && p.C > 1;
  const DepthwiseBackwardArgs a = make_args(p);
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_input<T>(a, channels_inner, stream);
  });
}

cudaError_t launch_depthwise_backward_weight(const DepthwiseBackwardParams& p, DType dtype, cudaStream_t stream) {
  using namespace depthwise;
  if (depthwise_backward_index_limit_violation(p)[0] != '\0') return cudaErrorInvalidValue;
  if (p.K * p.R * p.S == 0) return cudaSuccess;
  if (p.workspace == nullptr) return cudaErrorInvalidValue;
  // Grid.y holds the chunk (<= kMaxChunks); grid.x the channel tile.
  const bool channels_inner = p.grad_output_strides[1] == 1 && p.input_strides[1] == 1 && p.K > 1;
  const DepthwiseBackwardArgs a = make_args(p);
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_weight<T>(a, channels_inner, stream);
  });
}

}  // namespace convkernels
