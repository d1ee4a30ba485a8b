// Grouped convolution on tensor cores (fp16 / bf16, sm_80+) for channels_last input: ResNeXt's
// grouped 3x3 (4..32 channels per group) and AlexNet's towers.
//
// Output channels are taken 8 at a time (one mma n8 block). An n8 block either lies inside one
// group (Kg % 8 == 0) or covers 8/Kg whole groups (Kg = 2 or 4); its reduction runs over
// (r, s, c) with c spanning the input channels of those groups (CS = Cg or (8/Kg)*Cg), so a
// narrow-group block is a block-diagonal product whose off-group weights are zeros: half the
// MMA work is padding for Kg = 4 instead of the 15/16 a 64-wide dense tile would waste.
// Warp = 16 output pixels x 32 output channels (4 n8 blocks), CTA = 4 warps = 64 pixels.
// Fragments are gathered straight from global memory in the mma.m16n8k16 layout: consecutive
// reduction indices 2t, 2t+1 are two adjacent channels of one tap (c innermost, Cg even), one
// 32-bit load from the NHWC input and one from the KRSC weight; L1 serves the R*S overlap.
// fp32 accumulation; epilogue (scale, shift, residual, ReLU) through the output's strides.
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
constexpr int kTcThreads = 128;
constexpr int kTcBM = 64, kTcBN = 32;
}  // namespace

struct GroupedTcArgs {
  const void* input;   // [N, H, W, C] dense
  const void* weight;  // [K, R, S, Cg] dense
  Geometry g;
  int M, CS, L;                // pixels; channel span of an n8 block; its reduction length R*S*CS
  FastDivmod div_pq, div_q, div_cs, div_s, div_kg;
  EpilogueOperands epilogue;
};

template <typename T>
__global__ void __launch_bounds__(kTcThreads) grouped_tc_kernel(const GroupedTcArgs a) {
#if CK_SM80_ENABLED
  const Geometry& g = a.g;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int gid = lane / 4, tig = lane % 4;
  const int block_n = blockIdx.y * kTcBN;
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const T* __restrict__ weight = static_cast<const T*>(a.weight);

  // The two A-fragment rows of this lane: pixels gid and gid + 8 of the warp's 16.
  int64_t row_base[2];
  int row_h0[2], row_w0[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int m = blockIdx.x * kTcBM + warp * 16 + gid + 8 * i;
    int n = 0, pq = 0, p = 0, q = 0;
    if (m < a.M) {
      a.div_pq.divmod(m, n, pq);
      a.div_q.divmod(pq, p, q);
    }
    row_base[i] = static_cast<int64_t>(n) * g.H;
    row_h0[i] = m < a.M ? p * g.stride_h - g.pad_h : -(1 << 30);  // masked rows read nothing
    row_w0[i] = q * g.stride_w - g.pad_w;
  }

  const EpilogueOperands& ep = a.epilogue;
  const T* __restrict__ residual = static_cast<const T*>(ep.residual);
  T* __restrict__ output = static_cast<T*>(ep.output);
  const int64_t* os = ep.output_strides;
  const int64_t* rs = ep.residual_strides;

  // One n8 block at a time, its epilogue included: the 4 accumulators stay in registers (a
  // rolled loop over a [4][4] array would index it dynamically and put it in local memory).
#pragma unroll 1
  for (int j = 0; j < 4; ++j) {
    const int nb = block_n + 8 * j;  // first output channel of this n8 block (warp-uniform)
    if (nb >= g.K) break;
    const int c_span = a.div_kg.div(nb) * g.Cg;  // first input channel the block reads
    const int k = nb + gid;                      // this lane's B column (output channel)
    const bool k_ok = k < g.K;
    const int k_channel0 = a.div_kg.div(k_ok ? k : nb) * g.Cg - c_span;  // its group, in span coordinates
    const T* w_row = weight + static_cast<int64_t>(k_ok ? k : 0) * g.R * g.S * g.Cg;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll 1
    for (int kk = 0; kk < a.L; kk += 16) {
      uint32_t af[4], bf[2];
#pragma unroll
      for (int half = 0; half < 2; ++half) {  // reduction columns 2t (+8 for half 1)
        const int idx = kk + 2 * tig + 8 * half;
        int tap = 0, c = 0, r = 0, s = 0;
        const bool idx_ok = idx < a.L;
        if (idx_ok) {
          a.div_cs.divmod(idx, tap, c);
          a.div_s.divmod(tap, r, s);
        }
#pragma unroll
        for (int i = 0; i < 2; ++i) {  // A rows gid, gid + 8 -> registers half*2 + i
          const int h = row_h0[i] + r * g.dil_h, w = row_w0[i] + s * g.dil_w;
          uint32_t v = 0;
          // c_span + c < C: the last block of a narrow-group layer may span groups past K.
          if (idx_ok && c_span + c < g.C && static_cast<unsigned>(h) < static_cast<unsigned>(g.H) &&
              static_cast<unsigned>(w) < static_cast<unsigned>(g.W)) {
            v = *reinterpret_cast<const uint32_t*>(input + (((row_base[i] + h) * g.W + w) * g.C + c_span + c));
          }
          af[half * 2 + i] = v;
        }
        const int cl = c - k_channel0;  // channel within this output channel's group
        uint32_t wv = 0;
        if (idx_ok && k_ok && cl >= 0 && cl < g.Cg) {
          wv = *reinterpret_cast<const uint32_t*>(w_row + (r * g.S + s) * g.Cg + cl);
        }
        bf[half] = wv;
      }
      MmaM16N8K16<T>::run(acc, af, bf);
    }
    // Accumulator e: pixel gid + 8*(e/2), channel nb + 2*tig + e%2.
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int m = blockIdx.x * kTcBM + warp * 16 + gid + 8 * i;
      if (m >= a.M) continue;
      int n, pq, p, q;
      a.div_pq.divmod(m, n, pq);
      a.div_q.divmod(pq, p, q);
      const int64_t out_pixel = n * os[0] + p * os[2] + q * os[3];
      const int64_t res_pixel = n * rs[0] + p * rs[2] + q * rs[3];
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int kc = nb + 2 * tig + e;
        if (kc >= g.K) continue;
        const float res = residual != nullptr ? load_as_float(residual + (res_pixel + kc * rs[1])) : 0.f;
        const float v = finish_epilogue(ChannelAffine::load(ep, kc).apply(acc[2 * i + e]), res, ep.relu);
        store_from_float(output + (out_pixel + kc * os[1]), v);
      }
    }
  }

#endif
}

template __global__ void grouped_tc_kernel<__half>(const GroupedTcArgs);
template __global__ void grouped_tc_kernel<__nv_bfloat16>(const GroupedTcArgs);

}  // namespace depthwise

bool conv2d_grouped_tc_supported(const Conv2dParams& p, int64_t groups, DType dtype) {
  if (dtype == DType::kFloat32 || groups <= 1 || current_device_compute_major() < 8) return false;
  if (grouped_conv2d_index_limit_violation(p, groups)[0] != '\0') return false;
  const int64_t Cg = p.C / groups, Kg = p.K / groups;
  const bool blocks_fit_groups = Kg % 8 == 0 || Kg == 4 || Kg == 2;
  const int64_t* is = p.input_strides;
  const bool nhwc = is[1] == 1 && is[3] == p.C && is[2] == p.W * p.C && is[0] == p.H * p.W * p.C;
  return Cg % 2 == 0 && Cg >= 4 && blocks_fit_groups && nhwc && reinterpret_cast<uintptr_t>(p.input) % 4 == 0 &&
         reinterpret_cast<uintptr_t>(p.weight) % 4 == 0;
}

cudaError_t launch_conv2d_grouped_tc(const Conv2dParams& p, int64_t groups, DType dtype, cudaStream_t stream) {
  using namespace depthwise;
  if (!conv2d_grouped_tc_supported(p, groups, dtype)) return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q * p.K == 0) return cudaSuccess;
  GroupedTcArgs a;
  a.input = p.input;
  a.weight = p.weight;
  Geometry& g = a.g;
  g.N = int(p.N), g.C = int(p.C), g.H = int(p.H), g.W = int(p.W), g.K = int(p.K), g.R = int(p.R), g.S = int(p.S);
  g.P = int(p.P), g.Q = int(p.Q);
  g.stride_h = int(p.stride_h), g.stride_w = int(p.stride_w), g.pad_h = int(p.pad_h), g.pad_w = int(p.pad_w);
  g.dil_h = int(p.dil_h), g.dil_w = int(p.dil_w);
  g.Cg = int(p.C / groups), g.Kg = int(p.K / groups);
  a.M = int(p.N * p.P * p.Q);
  a.CS = g.Kg >= 8 ? g.Cg : (8 / g.Kg) * g.Cg;
  a.L = g.R * g.S * a.CS;
  a.div_pq = FastDivmod(g.P * g.Q);
  a.div_q = FastDivmod(g.Q);
  a.div_cs = FastDivmod(a.CS);
  a.div_s = FastDivmod(g.S);
  a.div_kg = FastDivmod(g.Kg);
  a.epilogue = make_epilogue_operands(p);
  const dim3 grid(ceil_div(a.M, kTcBM), ceil_div(g.K, kTcBN));
  return dispatch_half_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    grouped_tc_kernel<T><<<grid, kTcThreads, 0, stream>>>(a);
    return launch_status();
  });
}

}  // namespace convkernels
