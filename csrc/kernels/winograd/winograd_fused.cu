// The fused Winograd F(m x m, 3x3) kernel (m = 2, 4): input transform -> per-point GEMM over
// C -> output transform + epilogue, one CTA per 32 tiles x 32 output channels.
//
// Per C slice (16 channels for fp16/bf16, 8 for fp32):
//  1. every thread transforms (tile, channel) patches: loads the (m+2)^2 patch through the
//     input's strides (zeros outside the image: padding and ragged border tiles),
//     V = B^T d B in fp32, rounded once to the dtype into shared memory V[e][tile][c];
//  2. the slice of the cached transformed filter U[e][k][c] is staged in shared memory;
//  3. per point e: acc[e] += V[e] (32 x slice) * U[e]^T (slice x 32). 8 warps as 2 (tiles) x 4
//     (channels), each a 16 x 8 sub-tile: fp16/bf16 with mma.sync m16n8k16 (fp32
//     accumulation), fp32 with SIMT FMAs on the same fragment ownership (IEEE fp32; no TF32
//     path yet).
// The accumulator fragment of an mma puts the same (tile, channel) pairs in the same thread
// for every point e, so after the C loop each thread holds all alpha^2 values of its 4
// (tile, channel) pairs: the output transform A^T M A and the epilogue (scale, shift,
// residual, ReLU) run in registers and write straight through the output's strides.
// Shared-memory rows are padded (24 halves / 9 floats) so fragment reads are conflict-free.
#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/launch.h"
#include "common/mma_sm80.cuh"
#include "winograd/winograd.h"
#include "winograd/winograd_transforms.h"

namespace convkernels {
namespace {

constexpr int kThreads = 256;
constexpr int kTilesPerCta = 32;
constexpr int kChannelsPerCta = 32;

template <typename T>
struct Slice {
  static constexpr int kC = sizeof(T) == 2 ? 16 : 8;    // channels per iteration (mma k = 16)
  static constexpr int kRow = sizeof(T) == 2 ? 24 : 9;  // padded shared-memory row, elements
};

template <typename T, int M>
struct FusedConfig {
  static constexpr int kAlpha = M + 2;
  static constexpr int kPoints = kAlpha * kAlpha;
  static constexpr int kVElems = kPoints * kTilesPerCta * Slice<T>::kRow;
  static constexpr int kUElems = kPoints * kChannelsPerCta * Slice<T>::kRow;
  static constexpr int kSmemBytes = (kVElems + kUElems) * int(sizeof(T));
};

struct FusedArgs {
  WinogradConvParams p;
  EpilogueOperands epi;
  int tiles_h, tiles_w, tiles;  // tiles per column / row of an image, and N * tiles_h * tiles_w
};

__device__ __forceinline__ uint32_t load_b32(const void* ptr) { return *static_cast<const uint32_t*>(ptr); }

template <typename T, int M>
__global__ void __launch_bounds__(kThreads) winograd_fused_kernel(const FusedArgs args) {
  using Tr = winograd::Transform<M>;
  using Cfg = FusedConfig<T, M>;
  constexpr int A = Cfg::kAlpha;
  constexpr int E = Cfg::kPoints;
  constexpr int BC = Slice<T>::kC;
  constexpr int ROW = Slice<T>::kRow;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* v_smem = reinterpret_cast<T*>(smem_raw);  // [E][kTilesPerCta][ROW]
  T* u_smem = v_smem + Cfg::kVElems;           // [E][kChannelsPerCta][ROW]

  const WinogradConvParams& p = args.p;
  const T* x = static_cast<const T*>(p.input);
  const T* u = static_cast<const T*>(p.transformed);
  const int tid = threadIdx.x;
  const int lane = tid % 32, warp = tid / 32;
  const int tile0 = blockIdx.x * kTilesPerCta;
  const int64_t k0 = int64_t(blockIdx.y) * kChannelsPerCta;
  const int tiles_per_image = args.tiles_h * args.tiles_w;
  // mma fragment ownership: rows (tiles) g and g + 8, columns (channels) 2q and 2q + 1.
  const int g = lane / 4, q = lane % 4;
  const int warp_t = (warp / 4) * 16, warp_k = (warp % 4) * 8;

  float acc[E][4];
#pragma unroll
  for (int e = 0; e < E; ++e)
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
    for (int idx = tid; idx < E * kChannelsPerCta * BC; idx += kThreads) {
      const int c = idx % BC;
      const int k = (idx / BC) % kChannelsPerCta;
      const int e = idx / (BC * kChannelsPerCta);
      const int64_t kk = k0 + k, ch = c0 + c;
      const float val = (kk < p.K && ch < p.C) ? load_as_float(u + (int64_t(e) * p.K + kk) * p.C + ch) : 0.f;
      store_from_float(u_smem + (e * kChannelsPerCta + k) * ROW + c, val);
    }
    __syncthreads();
    // 3. Per-point GEMM on this slice.
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const T* va = v_smem + (e * kTilesPerCta + warp_t + g) * ROW;
      const T* ub = u_smem + (e * kChannelsPerCta + warp_k) * ROW;
      if constexpr (sizeof(T) == 2) {
        const uint32_t a[4] = {load_b32(va + 2 * q), load_b32(va + 8 * ROW + 2 * q), load_b32(va + 2 * q + 8),
                               load_b32(va + 8 * ROW + 2 * q + 8)};
        const uint32_t b[2] = {load_b32(ub + g * ROW + 2 * q), load_b32(ub + g * ROW + 2 * q + 8)};
        MmaM16N8K16<T>::run(acc[e], a, b);
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

  // 4. Output transform and epilogue for the 4 (tile, channel) pairs this thread owns.
  T* out = static_cast<T*>(p.output);
  const T* res = static_cast<const T*>(p.residual);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int tile = tile0 + warp_t + g + (j >= 2 ? 8 : 0);
    const int64_t k = k0 + warp_k + 2 * q + (j & 1);
    if (tile >= args.tiles || k >= p.K) continue;
    float am[M][A];  // A^T M
#pragma unroll
    for (int i = 0; i < M; ++i)
#pragma unroll
      for (int b = 0; b < A; ++b) {
        float s = 0.f;
#pragma unroll
        for (int a = 0; a < A; ++a)
          if (Tr::at(i, a) != 0.f) s = fmaf(Tr::at(i, a), acc[a * A + b][j], s);
        am[i][b] = s;
      }
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
}

template <typename T, int M>
cudaError_t launch_fused(const FusedArgs& args, cudaStream_t stream) {
  auto kernel = winograd_fused_kernel<T, M>;
  constexpr int smem = FusedConfig<T, M>::kSmemBytes;
  if (smem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid((args.tiles + kTilesPerCta - 1) / kTilesPerCta,
                  static_cast<unsigned>((args.p.K + kChannelsPerCta - 1) / kChannelsPerCta));
  kernel<<<grid, kThreads, smem, stream>>>(args);
  return launch_status();
}

template <typename T>
cudaError_t launch_tile(const FusedArgs& args, int tile, cudaStream_t stream) {
  if (tile == 2) return launch_fused<T, 2>(args, stream);
  if (tile == 4) return launch_fused<T, 4>(args, stream);
  return cudaErrorInvalidValue;
}

int64_t tiles_along(int64_t extent, int tile) { return (extent + tile - 1) / tile; }

}  // namespace

const char* winograd_index_limit_violation(const WinogradConvParams& p, int tile) {
  const int64_t limit = (int64_t(1) << 31) - kTilesPerCta;
  if (p.N * tiles_along(p.P, tile) * tiles_along(p.Q, tile) >= limit)
    return "N * ceil(P/m) * ceil(Q/m) output tiles exceed the kernel's 32-bit tile index";
  if (p.K >= int64_t(65535) * kChannelsPerCta) return "K exceeds the kernel's grid limit (65535 * 32 channels)";
  return "";
}

int winograd_conv2d_smem_bytes(int tile, DType dtype) {
  const bool wide = dtype == DType::kFloat32;
  if (tile == 2) return wide ? FusedConfig<float, 2>::kSmemBytes : FusedConfig<__half, 2>::kSmemBytes;
  return wide ? FusedConfig<float, 4>::kSmemBytes : FusedConfig<__half, 4>::kSmemBytes;
}

cudaError_t launch_winograd_conv2d(const WinogradConvParams& p, int tile, DType dtype, cudaStream_t stream) {
  if (tile != 2 && tile != 4) return cudaErrorInvalidValue;
  if (*winograd_index_limit_violation(p, tile) != '\0') return cudaErrorInvalidValue;
  // mma.sync needs sm_80; the fp32 SIMT path runs anywhere.
  if (dtype != DType::kFloat32 && current_device_compute_major() < 8) return cudaErrorInvalidValue;
  FusedArgs args;
  args.p = p;
  args.epi = make_epilogue_operands(p);
  args.tiles_h = static_cast<int>(tiles_along(p.P, tile));
  args.tiles_w = static_cast<int>(tiles_along(p.Q, tile));
  args.tiles = static_cast<int>(p.N * args.tiles_h * args.tiles_w);
  if (args.tiles == 0 || p.K == 0) return cudaSuccess;
  switch (dtype) {
    case DType::kFloat32:
      return launch_tile<float>(args, tile, stream);
    case DType::kFloat16:
      return launch_tile<__half>(args, tile, stream);
    case DType::kBFloat16:
      return launch_tile<__nv_bfloat16>(args, tile, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace convkernels
