// The fused Winograd F(m x m, 3x3) kernel (m = 2, 4): input transform -> per-point GEMM over
// C -> output transform + epilogue, one CTA per 32 tiles x 32 (F(2x2)) / 16 (F(4x4)) output
// channels.
//
// Per C slice (16 channels for fp16/bf16, 8 for fp32):
//  1. every thread transforms (tile, channel) patches: loads the (m+2)^2 patch through the
//     input's strides (zeros outside the image: padding and ragged border tiles),
//     V = B^T d B in fp32, rounded once to the dtype into shared memory V[e][tile][c];
//  2. the slice of the cached transformed filter U[e][k][c] is staged in shared memory;
//  3. per point e: acc[e] += V[e] (32 x slice) * U[e]^T (slice x channels). Each warp owns a
//     16 x 8 (tile, channel) sub-tile over a range of points, with the arithmetic its
//     PointMath says: fp16/bf16 with mma.sync m16n8k16 (fp32 accumulation); fp32 with
//     mma.sync m16n8k8 .tf32, V and U rounded to TF32 (cvt.rna) as they are loaded into the
//     mma fragments (kTf32), or split into TF32 high and residual parts for three mma per
//     product (kTf32x3, fp32-level error); fp32 otherwise with SIMT FMAs on the same fragment
//     ownership (IEEE fp32). Transforms and accumulation stay fp32 in every case.
//     F(2x2): 8 warps as 2 (tiles) x 4 (channels), all 16 points.
//     F(4x4): 2 (tiles) x 2 (channels) x 2 (point groups of 18): see FusedConfig.
// The accumulator fragment of an mma puts the same (tile, channel) pairs in the same thread
// for every point e. F(2x2): after the C loop each thread holds all 16 values of its 4 (tile,
// channel) pairs, and the output transform A^T M A and the epilogue (scale, shift, residual,
// ReLU) run from registers. F(4x4): the two point groups' accumulators meet in shared memory
// first. Both write straight through the output's strides.
// Shared-memory rows are padded (24 halves, 9 floats SIMT, 12 floats TF32 / 3xTF32) so fragment
// reads are conflict-free.
#include <type_traits>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/launch.h"
#include "common/mma_sm80.cuh"
#include "conv/implicit_gemm_tc.cuh"
#include "winograd/winograd.h"
#include "winograd/winograd_transforms.h"

namespace convkernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTilesPerCta = 32;

// The arithmetic of the per-point GEMM. fp16/bf16 data always runs kMma16 (mma.sync
// m16n8k16); fp32 data runs one of the other three, which launch_winograd_conv2d picks from the
// device and the caller's request: kSimtFp32 (IEEE FMAs, any device), kTf32 (m16n8k8 .tf32 on
// operands rounded to TF32: torch's TF32 permission) or kTf32x3 (the same mma three times on
// TF32 high / residual parts: fp32-level error, convkernels' "tf32x3"). The two fp32 tensor-core
// kinds use the direct conv's fragment policies (conv::TcElement<float>, TcElementFp32Split).
enum class PointMath { kMma16, kSimtFp32, kTf32, kTf32x3 };

constexpr bool on_fp32_tensor_cores(PointMath math) { return math == PointMath::kTf32 || math == PointMath::kTf32x3; }

// Channels per iteration = the mma k: 16 for m16n8k16 (fp16/bf16), 8 for m16n8k8 (tf32, 3xTF32)
// and 8 for the SIMT path. Padded shared-memory rows, so that the fragment reads of a warp hit 32
// distinct banks: b32 words of fp16 pairs at row stride 12 words (24 halves); SIMT fp32 reads
// one row per lane group with the 4 lanes of a group on the same word (broadcast), stride 9;
// tf32 reads word (g * kRow + q) for g < 8, q < 4, distinct mod 32 for stride 12 (not for 9).
template <typename T, PointMath kMath>
struct Slice {
  static_assert((sizeof(T) == 2) == (kMath == PointMath::kMma16), "kMma16 is the fp16/bf16 math, the others fp32's");
  static constexpr int kC = sizeof(T) == 2 ? 16 : 8;
  static constexpr int kRow = sizeof(T) == 2 ? 24 : on_fp32_tensor_cores(kMath) ? 12 : 9;
};

// Register budget. An mma m16n8 accumulator fragment is 4 fp32 per thread per point, so a warp
// that owns a 16 x 8 (tile, channel) sub-tile for all alpha^2 points holds 4 * alpha^2
// accumulators per thread: 64 for F(2x2) (128 registers in all), but 144 for F(4x4), which
// with the fragments, addresses and the output transform hits sm_80's 255 cap and spills.
// F(4x4) therefore splits the 36 points over two warp groups (kPointGroups = 2): 18 points,
// 72 accumulators per thread. The 8 warps then cover 32 tiles x 16 channels (2 tile halves x
// 2 channel groups x 2 point groups), and because no thread holds all 36 points of a (tile,
// channel) pair any more, the accumulators go through shared memory (reusing the V/U slices,
// after the C loop) before the output transform: each thread then transforms 2 pairs.
template <int M>
constexpr int point_groups() { return M == 4 ? 2 : 1; }
template <int M>
constexpr int channels_per_cta() { return 32 / point_groups<M>(); }
// CTAs per SM the register allocation targets (__launch_bounds__' second argument), stated
// rather than left to ptxas' heuristic: F(2x2) fits 2 CTAs (128 registers, 2 x 48 KB of
// shared memory), which it meets exactly, with no slack. F(4x4) with 2 CTAs would have to
// fit 72 accumulators in 128 registers: ptxas spills ~280 bytes, so it runs one CTA per SM.
template <int M>
constexpr int min_ctas_per_sm() { return M == 2 ? 2 : 1; }

template <typename T, int M, PointMath kMath>
struct FusedConfig {
  static constexpr int kAlpha = M + 2;
  static constexpr int kPoints = kAlpha * kAlpha;
  static constexpr int kPointGroups = point_groups<M>();
  static constexpr int kPointsPerWarp = kPoints / kPointGroups;
  static constexpr int kChannels = channels_per_cta<M>();  // output channels per CTA
  static constexpr int kWarpsK = kChannels / 8;            // warps along channels (8 each)
  static_assert(kPoints % kPointGroups == 0 && 2 * kWarpsK * kPointGroups == kWarps, "warp layout");
  static constexpr int kVElems = kPoints * kTilesPerCta * Slice<T, kMath>::kRow;
  static constexpr int kUElems = kPoints * kChannels * Slice<T, kMath>::kRow;
  // Accumulator exchange (kPointGroups > 1): fp32 Mx[e][k][t], rows padded to 36 floats so
  // both the fragment-ordered writes and the tile-contiguous reads are conflict-free.
  static constexpr int kMRow = kTilesPerCta + 4;
  static constexpr int kMElems = kPointGroups > 1 ? kPoints * kChannels * kMRow : 0;
  static constexpr int kSliceBytes = (kVElems + kUElems) * int(sizeof(T));
  static constexpr int kExchangeBytes = kMElems * int(sizeof(float));
  static constexpr int kSmemBytes = kSliceBytes > kExchangeBytes ? kSliceBytes : kExchangeBytes;
};

struct FusedArgs {
  WinogradConvParams p;
  EpilogueOperands epi;
  int tiles_h, tiles_w, tiles;  // tiles per column / row of an image, and N * tiles_h * tiles_w
};

__device__ __forceinline__ uint32_t load_b32(const void* ptr) { return *static_cast<const uint32_t*>(ptr); }

// Output transform A^T M A of one (tile, channel) pair and the epilogue, written through the
// output's strides (ragged border tiles write only their inside part). point(e) reads the GEMM
// result M at transform point e (registers or shared memory, read where used).
template <typename T, int M, typename Point>
__device__ __forceinline__ void store_output_tile(const FusedArgs& args, const Point& point, int tile, int64_t k) {
  using Tr = winograd::Transform<M>;
  constexpr int A = M + 2;
  const WinogradConvParams& p = args.p;
  T* out = static_cast<T*>(p.output);
  const T* res = static_cast<const T*>(p.residual);
  float am[M][A];  // A^T M
#pragma unroll
  for (int i = 0; i < M; ++i)
#pragma unroll
    for (int b = 0; b < A; ++b) {
      float s = 0.f;
#pragma unroll
      for (int a = 0; a < A; ++a)
        if (Tr::at(i, a) != 0.f) s = fmaf(Tr::at(i, a), point(a * A + b), s);
      am[i][b] = s;
    }
  const int tiles_per_image = args.tiles_h * args.tiles_w;
  const int n = tile / tiles_per_image;
  const int rem = tile - n * tiles_per_image;
  const int ty = rem / args.tiles_w, tx = rem - (rem / args.tiles_w) * args.tiles_w;
  const ChannelAffine affine = ChannelAffine::load(args.epi, static_cast<int>(k));
  const int64_t out_base = n * p.output_strides[0] + k * p.output_strides[1];
  const int64_t res_base = n * p.residual_strides[0] + k * p.residual_strides[1];
#pragma unroll
  for (int i = 0; i < M; ++i)
#pragma unroll
    for (int jj = 0; jj < M; ++jj) {
      const int64_t oh = int64_t(ty) * M + i, ow = int64_t(tx) * M + jj;
      if (oh >= p.P || ow >= p.Q) continue;  // ragged border tile
      float y = 0.f;
#pragma unroll
      for (int b = 0; b < A; ++b)
        if (Tr::at(jj, b) != 0.f) y = fmaf(am[i][b], Tr::at(jj, b), y);
      const float r = res != nullptr
                          ? load_as_float(res + res_base + oh * p.residual_strides[2] + ow * p.residual_strides[3])
                          : 0.f;
      store_from_float(out + out_base + oh * p.output_strides[2] + ow * p.output_strides[3],
                       finish_epilogue(affine.apply(y), r, p.relu));
    }
}

template <typename T, int M, PointMath kMath>
__global__ void __launch_bounds__(kThreads, min_ctas_per_sm<M>()) winograd_fused_kernel(const FusedArgs args) {
  using Tr = winograd::Transform<M>;
  using Cfg = FusedConfig<T, M, kMath>;
  constexpr int A = Cfg::kAlpha;
  constexpr int E = Cfg::kPoints;
  constexpr int BC = Slice<T, kMath>::kC;
  constexpr int ROW = Slice<T, kMath>::kRow;
  constexpr int KC = Cfg::kChannels;
  constexpr int EW = Cfg::kPointsPerWarp;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* v_smem = reinterpret_cast<T*>(smem_raw);  // [E][kTilesPerCta][ROW]
  T* u_smem = v_smem + Cfg::kVElems;           // [E][KC][ROW]

  const WinogradConvParams& p = args.p;
  const T* x = static_cast<const T*>(p.input);
  const T* u = static_cast<const T*>(p.transformed);
  const int tid = threadIdx.x;
  const int lane = tid % 32, warp = tid / 32;
  const int tile0 = blockIdx.x * kTilesPerCta;
  const int64_t k0 = int64_t(blockIdx.y) * KC;
  const int tiles_per_image = args.tiles_h * args.tiles_w;
  // mma fragment ownership: rows (tiles) g and g + 8, columns (channels) 2q and 2q + 1.
  const int g = lane / 4, q = lane % 4;
  // Warps: channel group fastest, then tile half, then point group (points e0 .. e0 + EW - 1).
  // (With one point group, e0 is spelled as the constant 0: the compiler cannot bound warp.)
  const int warp_k = (warp % Cfg::kWarpsK) * 8;
  const int warp_t = ((warp / Cfg::kWarpsK) % 2) * 16;
  const int e0 = Cfg::kPointGroups == 1 ? 0 : (warp / (2 * Cfg::kWarpsK)) * EW;

  float acc[EW][4];
#pragma unroll
  for (int e = 0; e < EW; ++e)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[e][j] = 0.f;

  for (int64_t c0 = 0; c0 < p.C; c0 += BC) {
    // 1. Input transform into V[e][t][c].
    for (int pair = tid; pair < kTilesPerCta * BC; pair += kThreads) {
      const int t = pair / BC, c = pair % BC;
      const int tile = tile0 + t;
      const int64_t ch = c0 + c;
      float d[A][A];
      if (tile < args.tiles && ch < p.C) {
        const int n = tile / tiles_per_image;
        const int rem = tile - n * tiles_per_image;
        const int ty = rem / args.tiles_w, tx = rem - (rem / args.tiles_w) * args.tiles_w;
        const int64_t h0 = int64_t(ty) * M - p.pad_h, w0 = int64_t(tx) * M - p.pad_w;
        const T* base = x + n * p.input_strides[0] + ch * p.input_strides[1];
#pragma unroll
        for (int i = 0; i < A; ++i)
#pragma unroll
          for (int j = 0; j < A; ++j) {
            const int64_t h = h0 + i, w = w0 + j;
            const bool inside = h >= 0 && h < p.H && w >= 0 && w < p.W;
            d[i][j] = inside ? load_as_float(base + h * p.input_strides[2] + w * p.input_strides[3]) : 0.f;
          }
      } else {
#pragma unroll
        for (int i = 0; i < A; ++i)
#pragma unroll
          for (int j = 0; j < A; ++j) d[i][j] = 0.f;
      }
      float bd[A][A];  // B^T d
#pragma unroll
      for (int i = 0; i < A; ++i)
#pragma unroll
        for (int j = 0; j < A; ++j) {
          float s = 0.f;
#pragma unroll
          for (int a = 0; a < A; ++a)
            if (Tr::bt(i, a) != 0.f) s = fmaf(Tr::bt(i, a), d[a][j], s);
          bd[i][j] = s;
        }
#pragma unroll
      for (int i = 0; i < A; ++i)
#pragma unroll
        for (int j = 0; j < A; ++j) {
          float s = 0.f;
#pragma unroll
          for (int b = 0; b < A; ++b)
            if (Tr::bt(j, b) != 0.f) s = fmaf(bd[i][b], Tr::bt(j, b), s);
          store_from_float(v_smem + ((i * A + j) * kTilesPerCta + t) * ROW + c, s);
        }
    }
    // 2. U[e][k][c] slice (zeros past K and C).
    for (int idx = tid; idx < E * KC * BC; idx += kThreads) {
      const int c = idx % BC;
      const int k = (idx / BC) % KC;
      const int e = idx / (BC * KC);
      const int64_t kk = k0 + k, ch = c0 + c;
      const float val = (kk < p.K && ch < p.C) ? load_as_float(u + (int64_t(e) * p.K + kk) * p.C + ch) : 0.f;
      store_from_float(u_smem + (e * KC + k) * ROW + c, val);
    }
    __syncthreads();
    // 3. Per-point GEMM on this slice, over this warp's points.
#pragma unroll
    for (int e = 0; e < EW; ++e) {
      const T* va = v_smem + ((e0 + e) * kTilesPerCta + warp_t + g) * ROW;
      const T* ub = u_smem + ((e0 + e) * KC + warp_k) * ROW;
      if constexpr (sizeof(T) == 2) {
        const uint32_t a[4] = {load_b32(va + 2 * q), load_b32(va + 8 * ROW + 2 * q), load_b32(va + 2 * q + 8),
                               load_b32(va + 8 * ROW + 2 * q + 8)};
        const uint32_t b[2] = {load_b32(ub + g * ROW + 2 * q), load_b32(ub + g * ROW + 2 * q + 8)};
        MmaM16N8K16<T>::run(acc[e], a, b);
      } else if constexpr (on_fp32_tensor_cores(kMath)) {
        // m16n8k8 .tf32 fragments: A (tile g / g + 8, channel q / q + 4), B (channel q / q + 4,
        // output channel g). V and U are fp32 in shared memory and stay raw fp32 bits in the
        // fragments; the policy rounds them to TF32 (kTf32) or splits them (kTf32x3) as mma
        // operands only.
        using Element = std::conditional_t<kMath == PointMath::kTf32x3, conv::TcElementFp32Split,
                                           conv::TcElement<float>>;
        uint32_t a[4] = {load_b32(va + q), load_b32(va + 8 * ROW + q), load_b32(va + q + 4),
                         load_b32(va + 8 * ROW + q + 4)};
        uint32_t b[2] = {load_b32(ub + g * ROW + q), load_b32(ub + g * ROW + q + 4)};
        Element::to_mma_operand(a);
        Element::to_mma_operand(b);
        Element::mma(acc[e], a, b);
      } else {
#pragma unroll
        for (int c = 0; c < BC; ++c) {
          const float a0 = va[c], a1 = va[8 * ROW + c];
          const float b0 = ub[(2 * q) * ROW + c], b1 = ub[(2 * q + 1) * ROW + c];
          acc[e][0] = fmaf(a0, b0, acc[e][0]);
          acc[e][1] = fmaf(a0, b1, acc[e][1]);
          acc[e][2] = fmaf(a1, b0, acc[e][2]);
          acc[e][3] = fmaf(a1, b1, acc[e][3]);
        }
      }
    }
    __syncthreads();
  }

  // 4. Output transform and epilogue.
  if constexpr (Cfg::kPointGroups == 1) {
    // This thread holds all alpha^2 points of its 4 (tile, channel) pairs: straight from
    // registers.
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int tile = tile0 + warp_t + g + (j >= 2 ? 8 : 0);
      const int64_t k = k0 + warp_k + 2 * q + (j & 1);
      if (tile >= args.tiles || k >= p.K) continue;
      store_output_tile<T, M>(args, [&](int e) { return acc[e][j]; }, tile, k);
    }
  } else {
    // The points of a pair are spread over the point groups: exchange through shared memory
    // (free: the C loop ended with a __syncthreads), Mx[e][k][t].
    float* m_smem = reinterpret_cast<float*>(smem_raw);
    constexpr int MROW = Cfg::kMRow;
#pragma unroll
    for (int e = 0; e < EW; ++e)
#pragma unroll
      for (int j = 0; j < 4; ++j)
        m_smem[((e0 + e) * KC + warp_k + 2 * q + (j & 1)) * MROW + warp_t + g + (j >= 2 ? 8 : 0)] = acc[e][j];
    __syncthreads();
    // Tiles fastest across the threads: conflict-free reads of Mx rows.
    for (int pair = tid; pair < kTilesPerCta * KC; pair += kThreads) {
      const int t = pair % kTilesPerCta, kl = pair / kTilesPerCta;
      const int tile = tile0 + t;
      const int64_t k = k0 + kl;
      if (tile >= args.tiles || k >= p.K) continue;
      const float* m_pair = m_smem + kl * MROW + t;
      store_output_tile<T, M>(args, [&](int e) { return m_pair[e * KC * MROW]; }, tile, k);
    }
  }
}

template <typename T, int M, PointMath kMath>
cudaError_t launch_fused(const FusedArgs& args, cudaStream_t stream) {
  auto kernel = winograd_fused_kernel<T, M, kMath>;
  constexpr int smem = FusedConfig<T, M, kMath>::kSmemBytes;
  if (smem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid((args.tiles + kTilesPerCta - 1) / kTilesPerCta,
                  static_cast<unsigned>((args.p.K + channels_per_cta<M>() - 1) / channels_per_cta<M>()));
  kernel<<<grid, kThreads, smem, stream>>>(args);
  return launch_status();
}

template <typename T, PointMath kMath>
cudaError_t launch_tile(const FusedArgs& args, int tile, cudaStream_t stream) {
  if (tile == 2) return launch_fused<T, 2, kMath>(args, stream);
  if (tile == 4) return launch_fused<T, 4, kMath>(args, stream);
  return cudaErrorInvalidValue;
}

int64_t tiles_along(int64_t extent, int tile) { return (extent + tile - 1) / tile; }

}  // namespace

const char* winograd_index_limit_violation(const WinogradConvParams& p, int tile) {
  const int64_t limit = (int64_t(1) << 31) - kTilesPerCta;
  if (p.N * tiles_along(p.P, tile) * tiles_along(p.Q, tile) >= limit)
    return "N * ceil(P/m) * ceil(Q/m) output tiles exceed the kernel's 32-bit tile index";
  const int channels = tile == 4 ? channels_per_cta<4>() : channels_per_cta<2>();
  if (p.K >= int64_t(65535) * channels)
    return tile == 4 ? "K exceeds the kernel's grid limit (65535 * 16 channels for F(4x4))"
                     : "K exceeds the kernel's grid limit (65535 * 32 channels for F(2x2))";
  return "";
}

int winograd_conv2d_smem_bytes(int tile, DType dtype, bool tf32, bool split_tf32) {
  using M = PointMath;
  if (dtype != DType::kFloat32)
    return tile == 2 ? FusedConfig<__half, 2, M::kMma16>::kSmemBytes : FusedConfig<__half, 4, M::kMma16>::kSmemBytes;
  if (split_tf32)
    return tile == 2 ? FusedConfig<float, 2, M::kTf32x3>::kSmemBytes : FusedConfig<float, 4, M::kTf32x3>::kSmemBytes;
  if (tf32) return tile == 2 ? FusedConfig<float, 2, M::kTf32>::kSmemBytes : FusedConfig<float, 4, M::kTf32>::kSmemBytes;
  return tile == 2 ? FusedConfig<float, 2, M::kSimtFp32>::kSmemBytes : FusedConfig<float, 4, M::kSimtFp32>::kSmemBytes;
}

cudaError_t launch_winograd_conv2d(const WinogradConvParams& p, int tile, DType dtype, cudaStream_t stream) {
  if (tile != 2 && tile != 4) return cudaErrorInvalidValue;
  if (*winograd_index_limit_violation(p, tile) != '\0') return cudaErrorInvalidValue;
  // mma.sync needs sm_80; the fp32 SIMT path runs anywhere. TF32 is a permission (as for cuDNN),
  // not a request, and 3xTF32 a request for fp32-level error: below sm_80 fp32 stays on the
  // SIMT path, which meets both.
  const bool tensor_cores = current_device_compute_major() >= 8;
  if (dtype != DType::kFloat32 && !tensor_cores) return cudaErrorInvalidValue;
  FusedArgs args;
  args.p = p;
  args.epi = make_epilogue_operands(p);
  args.tiles_h = static_cast<int>(tiles_along(p.P, tile));
  args.tiles_w = static_cast<int>(tiles_along(p.Q, tile));
  args.tiles = static_cast<int>(p.N * args.tiles_h * args.tiles_w);
  if (args.tiles == 0 || p.K == 0) return cudaSuccess;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float>) {
      if (!tensor_cores) return launch_tile<float, PointMath::kSimtFp32>(args, tile, stream);
      if (p.split_tf32) return launch_tile<float, PointMath::kTf32x3>(args, tile, stream);
      if (p.allow_tf32) return launch_tile<float, PointMath::kTf32>(args, tile, stream);
      return launch_tile<float, PointMath::kSimtFp32>(args, tile, stream);
    } else {
      return launch_tile<T, PointMath::kMma16>(args, tile, stream);
    }
  });
}

}  // namespace convkernels
