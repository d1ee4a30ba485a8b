// Direct grouped convolution (depthwise included): one thread owns one output pixel and KT
// consecutive output channels, accumulates Cg*R*S taps per channel in fp32 registers and ends in
// the shared epilogue (scale, shift, residual, ReLU). No shared memory: for the shapes this path
// serves (Cg*R*S <= a few hundred: ResNeXt's 4..32 channels per group, depthwise's single
// channel) the reduction is too short for an implicit-GEMM tile to pay, and neighbouring
// threads read overlapping windows that L1 serves.
//
// Thread order follows the output layout so loads and stores coalesce:
//   channels-inner (NHWC output): idx -> (n, p, q, channel tile), channel tile fastest;
//   otherwise (NCHW):             idx -> (n, channel tile, p, q), q fastest.
// KT channels share each input load when they sit in one group (Kg % KT == 0, e.g. ResNeXt's
// 4-wide groups, depthwise multiplier 2); for depthwise with multiplier 1 in NHWC they are KT
// adjacent groups, i.e. KT adjacent input channels (one 8/16-byte span per tap).
// R = S = 3, 5, 7 are compile-time (fully unrolled taps); anything else takes KR = KS = 0.
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

constexpr int kThreads = 256;

struct DirectArgs {
  const void* input;
  const void* weight;
  Geometry g;
  int k_tiles;           // ceil(K / KT)
  FastDivmod div_inner;  // k_tiles (channels-inner) or Q
  FastDivmod div_mid;    // Q (channels-inner) or P
  FastDivmod div_outer;  // P (channels-inner) or k_tiles
  FastDivmod div_kg;     // Kg: output channel -> group
  int total;             // N * P * Q * k_tiles threads
  int64_t input_strides[4];
  int64_t weight_strides[4];
  EpilogueOperands epilogue;
};

template <typename T, int KT, int KR, int KS, bool kChannelsInner>
__global__ void __launch_bounds__(kThreads) grouped_direct_kernel(const DirectArgs args) {
  const int idx = blockIdx.x * kThreads + threadIdx.x;
  if (idx >= args.total) return;
  const Geometry& g = args.g;
  int n, p, q, kt, rest, rest2;
  if (kChannelsInner) {
    args.div_inner.divmod(idx, rest, kt);
    args.div_mid.divmod(rest, rest2, q);
    args.div_outer.divmod(rest2, n, p);
  } else {
    args.div_inner.divmod(idx, rest, q);
    args.div_mid.divmod(rest, rest2, p);
    args.div_outer.divmod(rest2, n, kt);
  }
  const int R = KR > 0 ? KR : g.R;
  const int S = KS > 0 ? KS : g.S;
  const T* __restrict__ input = static_cast<const T*>(args.input);
  const T* __restrict__ weight = static_cast<const T*>(args.weight);
  const int64_t* is = args.input_strides;
  const int64_t* ws = args.weight_strides;

  const int k0 = kt * KT;
  // Per owned channel: its weight row and the first input channel of its group. Channels past K
  // (last tile) are clamped onto K-1: computed, never stored.
  int64_t w_row[KT], x_chan[KT];
#pragma unroll
  for (int j = 0; j < KT; ++j) {
    const int k = min(k0 + j, g.K - 1);
    w_row[j] = k * ws[0];
    x_chan[j] = static_cast<int64_t>(args.div_kg.div(k) * g.Cg) * is[1];
  }
  const bool one_group = x_chan[0] == x_chan[KT - 1];
  const int64_t x_image = n * is[0];
  const int h0 = p * g.stride_h - g.pad_h;
  const int w0 = q * g.stride_w - g.pad_w;

  float acc[KT];
#pragma unroll
  for (int j = 0; j < KT; ++j) acc[j] = 0.f;
  for (int c = 0; c < g.Cg; ++c) {
#pragma unroll 1
    for (int r = 0; r < R; ++r) {  // rows rolled, columns unrolled: 7x7 x 4 channels fully unrolled spills
      const int h = h0 + r * g.dil_h;
      if (static_cast<unsigned>(h) >= static_cast<unsigned>(g.H)) continue;
      // Unrolled only when S is compile-time: a runtime-bounded unroll of the KT-wide body spills.
#pragma unroll(KS > 0 ? KS : 1)
      for (int s = 0; s < S; ++s) {
        const int w = w0 + s * g.dil_w;
        if (static_cast<unsigned>(w) >= static_cast<unsigned>(g.W)) continue;
        const int64_t pixel = x_image + c * is[1] + h * is[2] + w * is[3];
        const int64_t tap = c * ws[1] + r * ws[2] + s * ws[3];
        if (one_group) {
          const float x = load_as_float(input + (pixel + x_chan[0]));
#pragma unroll
          for (int j = 0; j < KT; ++j) acc[j] = fmaf(x, load_as_float(weight + (w_row[j] + tap)), acc[j]);
        } else {
#pragma unroll
          for (int j = 0; j < KT; ++j) {
            acc[j] = fmaf(load_as_float(input + (pixel + x_chan[j])), load_as_float(weight + (w_row[j] + tap)), acc[j]);
          }
        }
      }
    }
  }

  const EpilogueOperands& ep = args.epilogue;
  const T* __restrict__ residual = static_cast<const T*>(ep.residual);
  T* __restrict__ output = static_cast<T*>(ep.output);
  const int64_t* os = ep.output_strides;
  const int64_t* rs = ep.residual_strides;
  const int64_t out_pixel = n * os[0] + p * os[2] + q * os[3];
  const int64_t res_pixel = n * rs[0] + p * rs[2] + q * rs[3];
#pragma unroll
  for (int j = 0; j < KT; ++j) {
    const int k = k0 + j;
    if (k >= g.K) break;
    const float res = residual != nullptr ? load_as_float(residual + (res_pixel + k * rs[1])) : 0.f;
    const float v = finish_epilogue(ChannelAffine::load(ep, k).apply(acc[j]), res, ep.relu);
    store_from_float(output + (out_pixel + k * os[1]), v);
  }
}

#define CK_GROUPED_INSTANTIATE_INNER(T, KT, KR)                                                          \
  template __global__ void grouped_direct_kernel<T, KT, KR, KR, true>(const DirectArgs);               \
  template __global__ void grouped_direct_kernel<T, KT, KR, KR, false>(const DirectArgs);
#define CK_GROUPED_INSTANTIATE_KT(T, KT) \
  CK_GROUPED_INSTANTIATE_INNER(T, KT, 0) \
  CK_GROUPED_INSTANTIATE_INNER(T, KT, 3) \
  CK_GROUPED_INSTANTIATE_INNER(T, KT, 5) \
  CK_GROUPED_INSTANTIATE_INNER(T, KT, 7)
#define CK_GROUPED_INSTANTIATE(T)  \
  CK_GROUPED_INSTANTIATE_KT(T, 1) \
  CK_GROUPED_INSTANTIATE_KT(T, 2) \
  CK_GROUPED_INSTANTIATE_KT(T, 4)
CK_GROUPED_INSTANTIATE(float)
CK_GROUPED_INSTANTIATE(__half)
CK_GROUPED_INSTANTIATE(__nv_bfloat16)
#undef CK_GROUPED_INSTANTIATE
#undef CK_GROUPED_INSTANTIATE_KT
#undef CK_GROUPED_INSTANTIATE_INNER

namespace {

template <typename T, int KT, int KR>
cudaError_t launch_taps(const DirectArgs& args, bool channels_inner, cudaStream_t stream) {
  const dim3 grid(ceil_div(args.total, kThreads));
  if (channels_inner) {
    grouped_direct_kernel<T, KT, KR, KR, true><<<grid, kThreads, 0, stream>>>(args);
  } else {
    grouped_direct_kernel<T, KT, KR, KR, false><<<grid, kThreads, 0, stream>>>(args);
  }
  return launch_status();
}

template <typename T, int KT>
cudaError_t launch_kt(const DirectArgs& args, bool channels_inner, cudaStream_t stream) {
  const int r = args.g.R == args.g.S ? args.g.R : 0;
  switch (r) {
    case 3:
      return launch_taps<T, KT, 3>(args, channels_inner, stream);
    case 5:
      return launch_taps<T, KT, 5>(args, channels_inner, stream);
    case 7:
      return launch_taps<T, KT, 7>(args, channels_inner, stream);
    default:
      return launch_taps<T, KT, 0>(args, channels_inner, stream);
  }
}

template <typename T>
cudaError_t launch_dtype(DirectArgs& args, int kt, bool channels_inner, cudaStream_t stream) {
  switch (kt) {
    case 4:
      return launch_kt<T, 4>(args, channels_inner, stream);
    case 2:
      return launch_kt<T, 2>(args, channels_inner, stream);
    default:
      return launch_kt<T, 1>(args, channels_inner, stream);
  }
}

// Channels per thread. Within one group, KT channels share every input load, so take as many as
// the group has (up to 4). Depthwise with multiplier 1 in NHWC: 4 adjacent groups, whose input
// channels are adjacent in memory. NCHW depthwise with multiplier 1: one channel per thread, the
// warp walks q.
int channels_per_thread(const Geometry& g, bool channels_inner) {
  if (g.Kg % 4 == 0) return 4;
  if (g.Kg % 2 == 0) return 2;
  if (g.Cg == 1 && channels_inner && g.K >= 4) return 4;
  return 1;
}

}  // namespace
}  // namespace depthwise

const char* grouped_conv2d_index_limit_violation(const Conv2dParams& p, int64_t groups) {
  using depthwise::kInt32Limit;
  const int64_t extents[] = {p.N, p.C, p.H, p.W, p.K, p.R, p.S, p.P, p.Q,
                             p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
  for (int64_t e : extents) {
    if (e < 0 || e > kInt32Limit) return "a size, stride, padding or dilation does not fit in 32 bits";
  }
  if (groups <= 0 || p.C % groups != 0 || p.K % groups != 0) return "C and K must be divisible by groups";
  if (p.N * p.P * p.Q * p.K > kInt32Limit - depthwise::kThreads) return "N*K*P*Q (output elements) must be < 2^31";
  if (p.P * p.stride_h + p.R * p.dil_h >= (int64_t(1) << 30) || p.Q * p.stride_w + p.S * p.dil_w >= (int64_t(1) << 30)) {
    return "spatial extents (P*stride + R*dilation) must be < 2^30";
  }
  return "";
}

cudaError_t launch_conv2d_grouped_direct(const Conv2dParams& p, int64_t groups, DType dtype, cudaStream_t stream) {
  using namespace depthwise;
  if (grouped_conv2d_index_limit_violation(p, groups)[0] != '\0') return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q * p.K == 0) return cudaSuccess;
  DirectArgs args;
  args.input = p.input;
  args.weight = p.weight;
  Geometry& g = args.g;
  g.N = int(p.N), g.C = int(p.C), g.H = int(p.H), g.W = int(p.W), g.K = int(p.K), g.R = int(p.R), g.S = int(p.S);
  g.P = int(p.P), g.Q = int(p.Q);
  g.stride_h = int(p.stride_h), g.stride_w = int(p.stride_w), g.pad_h = int(p.pad_h), g.pad_w = int(p.pad_w);
  g.dil_h = int(p.dil_h), g.dil_w = int(p.dil_w);
  g.Cg = int(p.C / groups), g.Kg = int(p.K / groups);
  // The output decides the thread order: its stores are the one stream every thread writes.
  const bool channels_inner = p.output_strides[1] == 1 && p.K > 1;
  const int kt = channels_per_thread(g, channels_inner);
  args.k_tiles = ceil_div(g.K, kt);
  args.div_kg = FastDivmod(g.Kg);
  if (channels_inner) {
    args.div_inner = FastDivmod(args.k_tiles), args.div_mid = FastDivmod(g.Q), args.div_outer = FastDivmod(g.P);
  } else {
    args.div_inner = FastDivmod(g.Q), args.div_mid = FastDivmod(g.P), args.div_outer = FastDivmod(args.k_tiles);
  }
  args.total = int(p.N * p.P * p.Q * args.k_tiles);
  for (int d = 0; d < 4; ++d) {
    args.input_strides[d] = p.input_strides[d];
    args.weight_strides[d] = p.weight_strides[d];
  }
  args.epilogue = make_epilogue_operands(p);
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_dtype<T>(args, kt, channels_inner, stream);
  });
}

}  // namespace convkernels
