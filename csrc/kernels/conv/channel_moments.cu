// Per-channel mean / biased variance over (N, H, W), two kernels:
//  1. partial moments: grid = (slices of the N*H*W pixels) x (channel groups); each block
//     reduces its slice with Welford batches + Chan merges and writes (count, mean, m2) to the
//     workspace [3][slices][C];
//  2. finalize: one thread per channel merges its slices in double precision.
// Two thread mappings: channel-inner (32 channels x 8 pixel rows per block, coalesced when
// channels are contiguous, NHWC) and channel-outer (a block per channel walking pixels,
// coalesced along W for NCHW).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/index_math.h"
#include "common/launch.h"
#include "conv/batch_norm.h"
#include "conv/welford.h"

namespace convkernels {
namespace batch_norm {

constexpr int kThreads = 256;
constexpr int kBatch = 4;              // values loaded together per thread (ILP, one division)
constexpr int kInnerChannels = 32;     // channel-inner mapping: channels per block
constexpr int kInnerRows = kThreads / kInnerChannels;  // 8 pixel rows in flight per block
constexpr int64_t kMaxSliceLen = int64_t(1) << 22;     // keeps float counts exact (< 2^24)

// Offset of pixel l = (n*H + h)*W + w. Dense pixel layouts skip the divisions.
enum PixelMode : int { kPixelsCollapsed = 0, kHwCollapsed = 1, kPixelsGeneral = 2 };

struct PixelIndexer {
  int mode;
  FastDivmod div_hw, div_w;
  int64_t stride_n, stride_h, stride_w;

  __device__ __forceinline__ int64_t offset(int l) const {
    if (mode == kPixelsCollapsed) return l * stride_w;
    int n, hw;
    div_hw.divmod(l, n, hw);
    if (mode == kHwCollapsed) return n * stride_n + hw * stride_w;
    int h, w;
    div_w.divmod(hw, h, w);
    return n * stride_n + h * stride_h + w * stride_w;
  }
};

struct MomentsArgs {
  const void* input;
  float* workspace;  // [3][slices][C]: count, mean, m2
  float* mean;
  float* var;
  int C;
  int L;  // N*H*W
  int slices;
  int slice_len;
  int64_t stride_c;
  PixelIndexer pixels;
};

__device__ __forceinline__ Moments<float> shuffle_down(const Moments<float>& m, int delta) {
  return Moments<float>{__shfl_down_sync(0xffffffffu, m.count, delta), __shfl_down_sync(0xffffffffu, m.mean, delta),
                        __shfl_down_sync(0xffffffffu, m.m2, delta)};
}

__device__ __forceinline__ void write_partial(const MomentsArgs& a, int slice, int c, const Moments<float>& m) {
  const int64_t plane = int64_t(a.slices) * a.C;
  const int64_t idx = int64_t(slice) * a.C + c;
  a.workspace[idx] = m.count;
  a.workspace[plane + idx] = m.mean;
  a.workspace[2 * plane + idx] = m.m2;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) channel_moments_inner_kernel(const MomentsArgs a) {
  __shared__ Moments<float> partial[kInnerRows][kInnerChannels];
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const int lane_c = threadIdx.x % kInnerChannels;
  const int row = threadIdx.x / kInnerChannels;
  const int c = blockIdx.y * kInnerChannels + lane_c;
  const int begin = blockIdx.x * a.slice_len;
  const int end = min(a.L, begin + a.slice_len);

  Moments<float> acc = Moments<float>::empty();
  if (c < a.C) {
    const T* channel = input + c * a.stride_c;
    for (int l = begin + row; l < end; l += kInnerRows * kBatch) {
      float x[kBatch];
      int valid = 0;
#pragma unroll
      for (int j = 0; j < kBatch; ++j) {
        const int lj = l + j * kInnerRows;
        x[j] = lj < end ? load_as_float(channel + a.pixels.offset(lj)) : 0.f;
        valid += lj < end ? 1 : 0;
      }
      acc.merge(batch_moments<kBatch>(x, valid));
    }
  }
  partial[row][lane_c] = acc;
  __syncthreads();
  if (row == 0 && c < a.C) {
#pragma unroll
    for (int r = 1; r < kInnerRows; ++r) acc.merge(partial[r][lane_c]);
    write_partial(a, blockIdx.x, c, acc);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) channel_moments_outer_kernel(const MomentsArgs a) {
  __shared__ Moments<float> warp_partial[kThreads / 32];
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const int c = blockIdx.y;
  const int begin = blockIdx.x * a.slice_len;
  const int end = min(a.L, begin + a.slice_len);
  const T* channel = input + c * a.stride_c;

  Moments<float> acc = Moments<float>::empty();
  for (int l = begin + threadIdx.x; l < end; l += kThreads * kBatch) {
    float x[kBatch];
    int valid = 0;
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const int lj = l + j * kThreads;
      x[j] = lj < end ? load_as_float(channel + a.pixels.offset(lj)) : 0.f;
      valid += lj < end ? 1 : 0;
    }
    acc.merge(batch_moments<kBatch>(x, valid));
  }
#pragma unroll
  for (int delta = 16; delta > 0; delta >>= 1) acc.merge(shuffle_down(acc, delta));
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) warp_partial[warp] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
#pragma unroll
    for (int w = 1; w < kThreads / 32; ++w) acc.merge(warp_partial[w]);
    write_partial(a, blockIdx.x, c, acc);
  }
}

__global__ void __launch_bounds__(kThreads) channel_moments_finalize_kernel(const MomentsArgs a) {
  const int c = blockIdx.x * kThreads + threadIdx.x;
  if (c >= a.C) return;
  const int64_t plane = int64_t(a.slices) * a.C;
  Moments<double> total = Moments<double>::empty();
  for (int s = 0; s < a.slices; ++s) {
    const int64_t idx = int64_t(s) * a.C + c;
    total.merge(Moments<double>{a.workspace[idx], a.workspace[plane + idx], a.workspace[2 * plane + idx]});
  }
  a.mean[c] = static_cast<float>(total.mean);
  a.var[c] = static_cast<float>(total.m2 / total.count);
}

template __global__ void channel_moments_inner_kernel<float>(const MomentsArgs);
template __global__ void channel_moments_inner_kernel<__half>(const MomentsArgs);
template __global__ void channel_moments_inner_kernel<__nv_bfloat16>(const MomentsArgs);
template __global__ void channel_moments_outer_kernel<float>(const MomentsArgs);
template __global__ void channel_moments_outer_kernel<__half>(const MomentsArgs);
template __global__ void channel_moments_outer_kernel<__nv_bfloat16>(const MomentsArgs);

struct MomentsPlan {
  bool channel_inner;
  int slices;
  int slice_len;
};

MomentsPlan plan(const ChannelMomentsParams& p) {
  MomentsPlan plan;
  const int64_t L = p.N * p.H * p.W;
  // grid.y holds the channel (group) index: at most 65535.
  plan.channel_inner = (p.strides[1] == 1 && p.C > 1) || p.C > 65535;
  const int64_t channel_groups = plan.channel_inner ? ceil_div64(p.C, kInnerChannels) : p.C;
  const int64_t min_slice_len = plan.channel_inner ? 8 * kInnerRows * kBatch : 2 * kThreads * kBatch;
  const int64_t target_ctas = 4 * int64_t(current_device_sm_count());
  int64_t slices = ceil_div64(target_ctas, channel_groups);
  const int64_t max_useful = ceil_div64(L, min_slice_len);
  if (slices > max_useful) slices = max_useful;
  const int64_t min_for_exact_counts = ceil_div64(L, kMaxSliceLen);
  if (slices < min_for_exact_counts) slices = min_for_exact_counts;
  if (slices < 1) slices = 1;
  const int64_t slice_len = ceil_div64(L, slices);
  plan.slice_len = static_cast<int>(slice_len);
  plan.slices = static_cast<int>(ceil_div64(L, slice_len));  // no empty slice
  return plan;
}

// Chooses the cheapest exact formula for the offset of pixel l = n*H*W + h*W + w.
PixelIndexer make_pixel_indexer(const ChannelMomentsParams& p) {
  PixelIndexer px;
  px.stride_n = p.strides[0];
  px.stride_h = p.strides[2];
  px.stride_w = p.strides[3];
  px.div_hw = FastDivmod(static_cast<int>(p.H * p.W));
  px.div_w = FastDivmod(static_cast<int>(p.W));
  px.mode = kPixelsGeneral;
  // (h, w) -> hw = h*W + w with one stride? Size-1 dims never contribute to the offset.
  bool hw_collapses = true;
  int64_t hw_stride = 0;
  if (p.W == 1) {
    hw_stride = p.strides[2];
  } else if (p.H == 1 || p.strides[2] == p.W * p.strides[3]) {
    hw_stride = p.strides[3];
  } else {
    hw_collapses = false;
  }
  if (!hw_collapses) return px;
  px.mode = kHwCollapsed;
  px.stride_w = hw_stride;
  // (n, hw) -> l = n*HW + hw with one stride?
  const int64_t HW = p.H * p.W;
  if (HW == 1) {
    px.mode = kPixelsCollapsed;
    px.stride_w = p.strides[0];
  } else if (p.N == 1 || p.strides[0] == HW * hw_stride) {
    px.mode = kPixelsCollapsed;
  }
  return px;
}

template <typename T>
void launch_moments_partials(const MomentsArgs& a, const MomentsPlan& pl, cudaStream_t stream) {
  if (pl.channel_inner) {
    const dim3 grid(pl.slices, ceil_div(a.C, kInnerChannels));
    channel_moments_inner_kernel<T><<<grid, kThreads, 0, stream>>>(a);
  } else {
    const dim3 grid(pl.slices, a.C);
    channel_moments_outer_kernel<T><<<grid, kThreads, 0, stream>>>(a);
  }
}

}  // namespace batch_norm

const char* channel_moments_limit_violation(const ChannelMomentsParams& p) {
  constexpr int64_t kLimit = (int64_t(1) << 31) - 1;
  if (p.N * p.H * p.W > kLimit) return "N*H*W must be < 2^31";
  if (p.C > int64_t(65535) * batch_norm::kInnerChannels) return "C must be < 2^21";
  return "";
}

int64_t channel_moments_workspace_floats(const ChannelMomentsParams& p) {
  if (p.N * p.H * p.W == 0 || p.C == 0) return 0;
  return 3 * int64_t(batch_norm::plan(p).slices) * p.C;
}

cudaError_t launch_channel_moments(const ChannelMomentsParams& p, DType dtype, float* workspace,
                                   cudaStream_t stream) {
  using namespace batch_norm;
  if (channel_moments_limit_violation(p)[0] != '\0' || p.N * p.H * p.W == 0 || p.C == 0) {
    return cudaErrorInvalidValue;
  }
  const MomentsPlan pl = plan(p);
  MomentsArgs a;
  a.input = p.input;
  a.workspace = workspace;
  a.mean = p.mean;
  a.var = p.var;
  a.C = static_cast<int>(p.C);
  a.L = static_cast<int>(p.N * p.H * p.W);
  a.slices = pl.slices;
  a.slice_len = pl.slice_len;
  a.stride_c = p.strides[1];
  a.pixels = make_pixel_indexer(p);
  const cudaError_t err = dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_moments_partials<T>(a, pl, stream);
    return launch_status();
  });
  if (err != cudaSuccess) return err;
  channel_moments_finalize_kernel<<<ceil_div(a.C, kThreads), kThreads, 0, stream>>>(a);
  return launch_status();
}

}  // namespace convkernels
