// Tensor-core implicit-GEMM convolution, sm_80+, fp32 accumulate: fp16/bf16 in (mma.sync
// m16n8k16), or fp32 in with TF32 math (mma.sync m16n8k8 .tf32, operands rounded by cvt.rna).
//
// CTA tile BM x BN x 64 bytes of reduction (32 fp16/bf16 or 16 fp32 values); 4 warps in a 2x2
// grid, each owning a (BM/2) x (BN/2) warp tile of m16n8 accumulators. Operands stream through
// a kStages-deep cp.async ring of XOR-swizzled shared-memory tiles (see tc_layout.h);
// ldmatrix.x4 feeds the mma fragments. After the main loop the fp32 accumulators are staged
// through shared memory (reusing the ring) so that the epilogue reads/writes global memory along
// the contiguous dimension. One kernel body serves the three element types: TcElement<T> holds
// what differs (values per chunk, the mma, the fragment conversion). fp32 has a second policy,
// TcElementFp32Split (3xTF32, "tf32x3"), that the Element template parameter selects.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/mma_sm80.cuh"
#include "conv/conv_geometry.h"
#include "conv/tc_layout.h"

namespace convkernels {
namespace conv {

struct TcKernelArgs {
  const void* input;   // dense NHWC
  const void* weight;  // dense KRSC: row k holds the C*R*S reduction values contiguously
  ConvShape shape;
  EpilogueOperands epilogue;  // residual/output [N, K, P, Q] logical, any strides
  // Output (and residual) have unit channel stride, K % 4 == 0, and pointers and pixel strides
  // (n, p, q) aligned to 4 elements: 4-channel loads and stores. Dense NHWC is the common case;
  // resize_conv's interleaved sub-pixel outputs (pixel strides a multiple of the dense ones) too.
  bool vector_epilogue;
};

// What the element type changes. Shared-memory layout, ldmatrix addressing, fragment register
// counts (A: 4, B: 2 per mma tile) and the accumulator layout are the same for all (tc_layout.h).
template <typename T>
struct TcElement;

// fp16 / bf16: ldmatrix registers hold two 16-bit values each, which is the m16n8k16 operand
// format as it is.
template <typename T16>
struct TcElement16 {
  static constexpr int kBlockK = tc::block_k(2);          // 32 values per stage
  static constexpr int kChunkElems = tc::chunk_elems(2);  // 8 values per 16-byte chunk
  template <int kRegs>
  static __device__ __forceinline__ void to_mma_operand(uint32_t (&)[kRegs]) {}
  static __device__ __forceinline__ void mma(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    MmaM16N8K16<T16>::run(acc, a, b);
  }
};
template <>
struct TcElement<__half> : TcElement16<__half> {};
template <>
struct TcElement<__nv_bfloat16> : TcElement16<__nv_bfloat16> {};

// fp32 with TF32 math: ldmatrix registers hold one fp32 value each (the raw bits cp.async
// copied), in m16n8k8 .tf32 fragment order; each is rounded to TF32 before the mma.
template <>
struct TcElement<float> {
  static constexpr int kBlockK = tc::block_k(4);          // 16 values per stage
  static constexpr int kChunkElems = tc::chunk_elems(4);  // 4 values per 16-byte chunk
  template <int kRegs>
  static __device__ __forceinline__ void to_mma_operand(uint32_t (&regs)[kRegs]) {
#pragma unroll
    for (int i = 0; i < kRegs; ++i) regs[i] = round_to_tf32(regs[i]);
  }
  static __device__ __forceinline__ void mma(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    MmaM16N8K8Tf32::run(acc, a, b);
  }
};

// fp32 with 3xTF32 math ("tf32x3"): error at the level of fp32 arithmetic on TF32 tensor cores.
// Each operand x is split into hi = tf32(x) and lo = tf32(x - hi) (x - hi is exact in fp32), and
// a*b ~ a_lo*b_hi + a_hi*b_lo + a_hi*b_hi: only a_lo*b_lo (~2^-22 |a b|) and the rounding of lo
// (~2^-22 |x|) are dropped. Small terms are accumulated first so they are not lost against the
// large one. The fragments stay raw fp32 bits until the mma, which splits them, so the kernel
// body is the one of the other policies. The split of a fragment is the same pure code for each
// (mt, nt) use: ptxas computes it once per fragment register and k-step (sm_90 SASS of the
// 64x64 tile: 32 extra FADD for 32 fragment registers, 48 HMMA.1688 against TF32's 16).
struct TcElementFp32Split : TcElement<float> {
  template <int kRegs>
  static __device__ __forceinline__ void to_mma_operand(uint32_t (&)[kRegs]) {}
  template <int kRegs>
  static __device__ __forceinline__ void split(const uint32_t (&x)[kRegs], uint32_t (&hi)[kRegs],
                                               uint32_t (&lo)[kRegs]) {
#pragma unroll
    for (int i = 0; i < kRegs; ++i) {
      hi[i] = round_to_tf32(x[i]);
      lo[i] = round_to_tf32(__float_as_uint(__uint_as_float(x[i]) - __uint_as_float(hi[i])));
    }
  }
  static __device__ __forceinline__ void mma(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    uint32_t a_hi[4], a_lo[4], b_hi[2], b_lo[2];
    split(a, a_hi, a_lo);
    split(b, b_hi, b_lo);
    MmaM16N8K8Tf32::run(acc, a_lo, b_hi);
    MmaM16N8K8Tf32::run(acc, a_hi, b_lo);
    MmaM16N8K8Tf32::run(acc, a_hi, b_hi);
  }
};

template <int kBM, int kBN, int kStages_, int kMinBlocksPerSm_>
struct TcTileConfig {
  static constexpr int BM = kBM;
  static constexpr int BN = kBN;
  static constexpr int kWarpsM = 2;
  static constexpr int kWarpsN = 2;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kStages = kStages_;
  static constexpr int kMinBlocksPerSm = kMinBlocksPerSm_;
  static constexpr int kWarpTileM = BM / kWarpsM;
  static constexpr int kWarpTileN = BN / kWarpsN;
  static constexpr int kMmaTilesM = kWarpTileM / 16;
  static constexpr int kMmaTilesN = kWarpTileN / 8;
  static constexpr int kLoadsA = BM * tc::kChunksPerRow / kThreads;  // 16 B chunks per thread
  static constexpr int kLoadsB = BN * tc::kChunksPerRow / kThreads;
  static constexpr int kStageBytesA = BM * tc::kRowBytes;
  static constexpr int kStageBytesB = BN * tc::kRowBytes;
  static constexpr int kStageBytes = kStageBytesA + kStageBytesB;
  // fp32 staging row stride: +8 floats makes the float2 accumulator writes conflict-free.
  static constexpr int kStagingStride = BN + 8;
  static constexpr int kPipelineBytes = kStages * kStageBytes;
  static constexpr int kStagingBytes = BM * kStagingStride * 4;
  static constexpr int kSmemBytes = kPipelineBytes > kStagingBytes ? kPipelineBytes : kStagingBytes;

  static_assert(kStages >= 2, "the cp.async ring needs at least two stages");
  static_assert(BM % (16 * kWarpsM) == 0 && BN % (16 * kWarpsN) == 0, "warp tile must be a multiple of 16");
  static_assert(kMmaTilesN % 2 == 0, "B fragments are loaded two n8 tiles per ldmatrix.x4");
  static_assert((BM * tc::kChunksPerRow) % kThreads == 0 && (BN * tc::kChunksPerRow) % kThreads == 0,
                "every thread must copy the same number of chunks");
  static_assert(BM % 8 == 0 && BN % 8 == 0, "swizzle period is 8 rows");
};

// The A-operand loader of a plain convolution: one cp.async of a 16-byte NHWC chunk, zero-filled
// in the padding and past the reduction's end. Other loaders (resize_conv's bilinear one, which
// computes the chunk in registers and stores it) have the same call signature.
template <typename T>
struct NhwcGatherA {
  const T* input;  // dense NHWC
  __device__ __forceinline__ void operator()(const ConvShape& s, const RowGeometry& g, const RscCursor& k,
                                             uint32_t smem_addr) const {
    int64_t offset;
    const bool valid = nhwc_input_offset(s, g, k, &offset);
    cp_async_16_zfill(smem_addr, valid ? input + offset : input, valid);
  }
};

// One CTA's BM x BN output tile at (block_m, block_n). A device function so that kernels
// running several convolutions in one launch (resize_conv's sub-pixel phases), or loading A
// differently (load_a), share the body. Element is the arithmetic policy (TcElement<T>, or
// TcElementFp32Split for fp32 in tf32x3).
template <typename T, typename Cfg, typename Element = TcElement<T>, typename ALoader>
__device__ __forceinline__ void conv2d_implicit_gemm_tc_cta(const TcKernelArgs& args, const ALoader& load_a,
                                                            const int block_m, const int block_n) {
#if CK_SM80_ENABLED
  extern __shared__ __align__(128) unsigned char smem[];

  const ConvShape& s = args.shape;
  const T* __restrict__ weight = static_cast<const T*>(args.weight);
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int warp_row0 = (warp % Cfg::kWarpsM) * Cfg::kWarpTileM;
  const int warp_col0 = (warp / Cfg::kWarpsM) * Cfg::kWarpTileN;
  const uint32_t smem_base = shared_address(smem);

  // ---- loader state, computed once per CTA (no division in the main loop) ----
  const int load_chunk = tid % tc::kChunksPerRow;
  RowGeometry a_rows[Cfg::kLoadsA];
#pragma unroll
  for (int i = 0; i < Cfg::kLoadsA; ++i) {
    a_rows[i] = make_row_geometry(s, block_m + tc::tile_load_source(tid, i, Cfg::kThreads).row);
  }
  RscCursor cursor;  // (r, s, c) of this thread's chunk in the next tile to load
  cursor.start(load_chunk * Element::kChunkElems, s.C, s.S);
  int load_kg = load_chunk * Element::kChunkElems;  // same position as a flat reduction index (B side)
  const int num_k_tiles = ceil_div(s.Kg, Element::kBlockK);
  int next_tile = 0;

  // Issues the cp.async copies of the next reduction tile into its ring slot. Always commits a
  // group (possibly empty) so the wait_group counts below stay uniform in the tail.
  auto load_next_tile = [&]() {
    if (next_tile < num_k_tiles) {
      const uint32_t a_base = smem_base + (next_tile % Cfg::kStages) * Cfg::kStageBytes;
      const uint32_t b_base = a_base + Cfg::kStageBytesA;
#pragma unroll
      for (int i = 0; i < Cfg::kLoadsA; ++i) {
        const int row = tc::tile_load_source(tid, i, Cfg::kThreads).row;
        load_a(s, a_rows[i], cursor, a_base + tc::swizzled_chunk_offset(row, load_chunk));
      }
#pragma unroll
      for (int i = 0; i < Cfg::kLoadsB; ++i) {
        const int row = tc::tile_load_source(tid, i, Cfg::kThreads).row;
        const int n = block_n + row;
        const bool valid = n < s.K && load_kg < s.Kg;
        const T* src = weight + (static_cast<int64_t>(n) * s.Kg + load_kg);
        cp_async_16_zfill(b_base + tc::swizzled_chunk_offset(row, load_chunk), valid ? src : weight, valid);
      }
      cursor.advance(Element::kBlockK, s.C, s.S);
      load_kg += Element::kBlockK;
    }
    cp_async_commit();
    ++next_tile;
  };

  float acc[Cfg::kMmaTilesM][Cfg::kMmaTilesN][4];
#pragma unroll
  for (int mt = 0; mt < Cfg::kMmaTilesM; ++mt)
#pragma unroll
    for (int nt = 0; nt < Cfg::kMmaTilesN; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.f;

  // ---- main loop: kStages-1 tiles in flight while one is consumed ----
#pragma unroll
  for (int st = 0; st < Cfg::kStages - 1; ++st) load_next_tile();

  for (int kt = 0; kt < num_k_tiles; ++kt) {
    // Groups committed so far: (kStages-1) + kt; tile kt is group kt, so allowing kStages-2
    // pending groups guarantees it landed. The barrier publishes every thread's copies and
    // also proves all warps finished reading slot (kt-1) % kStages, which is refilled next.
    cp_async_wait<Cfg::kStages - 2>();
    __syncthreads();
    load_next_tile();

    const uint32_t a_base = smem_base + (kt % Cfg::kStages) * Cfg::kStageBytes;
    const uint32_t b_base = a_base + Cfg::kStageBytesA;
#pragma unroll
    for (int kstep = 0; kstep < tc::kKStepsPerStage; ++kstep) {
      uint32_t a_frag[Cfg::kMmaTilesM][4];
      uint32_t b_frag[Cfg::kMmaTilesN][2];
#pragma unroll
      for (int mt = 0; mt < Cfg::kMmaTilesM; ++mt) {
        const tc::RowChunk src = tc::ldmatrix_a_source(lane, warp_row0 + mt * 16, kstep);
        ldmatrix_x4(a_frag[mt], a_base + tc::swizzled_chunk_offset(src.row, src.chunk));
        Element::to_mma_operand(a_frag[mt]);
      }
#pragma unroll
      for (int np = 0; np < Cfg::kMmaTilesN / 2; ++np) {
        const tc::RowChunk src = tc::ldmatrix_b_source(lane, warp_col0 + np * 16, kstep);
        uint32_t pair[4];
        ldmatrix_x4(pair, b_base + tc::swizzled_chunk_offset(src.row, src.chunk));
        Element::to_mma_operand(pair);
        b_frag[2 * np][0] = pair[0];
        b_frag[2 * np][1] = pair[1];
        b_frag[2 * np + 1][0] = pair[2];
        b_frag[2 * np + 1][1] = pair[3];
      }
#pragma unroll
      for (int mt = 0; mt < Cfg::kMmaTilesM; ++mt)
#pragma unroll
        for (int nt = 0; nt < Cfg::kMmaTilesN; ++nt) Element::mma(acc[mt][nt], a_frag[mt], b_frag[nt]);
    }
  }

  // ---- epilogue: stage fp32 accumulators in shared memory (the ring is free now) ----
  cp_async_wait<0>();
  __syncthreads();
  float* staging = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int mt = 0; mt < Cfg::kMmaTilesM; ++mt)
#pragma unroll
    for (int nt = 0; nt < Cfg::kMmaTilesN; ++nt)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const tc::RowCol rc = tc::accumulator_coord(lane, 2 * half);
        const int row = warp_row0 + mt * 16 + rc.row;
        const int col = warp_col0 + nt * 8 + rc.col;
        *reinterpret_cast<float2*>(staging + row * Cfg::kStagingStride + col) =
            make_float2(acc[mt][nt][2 * half], acc[mt][nt][2 * half + 1]);
      }
  __syncthreads();

  const EpilogueOperands& ep = args.epilogue;
  const T* __restrict__ residual = static_cast<const T*>(ep.residual);
  T* __restrict__ output = static_cast<T*>(ep.output);
  constexpr int kGroupsPerRow = Cfg::BN / 4;  // each thread finishes 4 consecutive channels
  if (args.vector_epilogue) {
    // Channels contiguous: consecutive threads take consecutive channel groups of one pixel.
    const int64_t* os = ep.output_strides;
    const int64_t* rs = ep.residual_strides;
    for (int idx = tid; idx < Cfg::BM * kGroupsPerRow; idx += Cfg::kThreads) {
      const int row = idx / kGroupsPerRow;
      const int group = idx % kGroupsPerRow;
      const int m = block_m + row;
      const int k = block_n + group * 4;
      if (m >= s.M || k >= s.K) continue;  // K % 4 == 0, so the group is entirely in or out
      const float4 v = *reinterpret_cast<const float4*>(staging + row * Cfg::kStagingStride + group * 4);
      float vals[4] = {v.x, v.y, v.z, v.w};
      float res[4] = {0.f, 0.f, 0.f, 0.f};
      const OutputPixel px = decompose_output_row(s, m);
      if (residual != nullptr) load4_as_float(residual + (px.n * rs[0] + px.p * rs[2] + px.q * rs[3] + k), res);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const ChannelAffine affine = ChannelAffine::load(ep, k + j);
        vals[j] = finish_epilogue(affine.apply(vals[j]), res[j], ep.relu);
      }
      store4_from_float(output + (px.n * os[0] + px.p * os[2] + px.q * os[3] + k), vals);
    }
  } else {
    // Any strides (NCHW output, odd K, sliced residual): consecutive threads take consecutive
    // pixels, which is the contiguous direction of NCHW.
    const int64_t* os = ep.output_strides;
    const int64_t* rs = ep.residual_strides;
    for (int idx = tid; idx < Cfg::BM * kGroupsPerRow; idx += Cfg::kThreads) {
      const int row = idx % Cfg::BM;
      const int group = idx / Cfg::BM;
      const int m = block_m + row;
      const int k0 = block_n + group * 4;
      if (m >= s.M || k0 >= s.K) continue;
      const OutputPixel px = decompose_output_row(s, m);
      const int64_t out_pixel = px.n * os[0] + px.p * os[2] + px.q * os[3];
      const int64_t res_pixel = px.n * rs[0] + px.p * rs[2] + px.q * rs[3];
      const float4 v = *reinterpret_cast<const float4*>(staging + row * Cfg::kStagingStride + group * 4);
      const float vals[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int k = k0 + j;
        if (k >= s.K) break;
        const float res = residual != nullptr ? load_as_float(residual + (res_pixel + k * rs[1])) : 0.f;
        const ChannelAffine affine = ChannelAffine::load(ep, k);
        store_from_float(output + (out_pixel + k * os[1]), finish_epilogue(affine.apply(vals[j]), res, ep.relu));
      }
    }
  }
#endif  // CK_SM80_ENABLED
}

template <typename T, typename Cfg, typename Element = TcElement<T>>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    conv2d_implicit_gemm_tc_kernel(const TcKernelArgs args) {
  const NhwcGatherA<T> load_a{static_cast<const T*>(args.input)};
  conv2d_implicit_gemm_tc_cta<T, Cfg, Element>(args, load_a, blockIdx.x * Cfg::BM, blockIdx.y * Cfg::BN);
}

}  // namespace conv
}  // namespace convkernels
