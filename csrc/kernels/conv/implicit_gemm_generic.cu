// SIMT implicit-GEMM convolution for any dtype (fp32 / fp16 / bf16, fp32 accumulate) and any
// element strides of input, weight, residual and output: the full-precision fp32 path (TF32 not
// allowed), and the fallback for inputs the tensor-core kernel cannot take (C not a multiple of
// 8 (fp16/bf16) or 4 (fp32), misaligned, pre-sm_80).
//
// CTA tile 64 (pixels) x 64 (output channels) x 16 (reduction), 256 threads, 4x4 outputs per
// thread, register-prefetched double buffer in shared memory. Reads go through the strides, so
// sliced/permuted/expanded tensors need no copy. kChannelsInner picks the thread mapping that
// coalesces for channel-contiguous tensors (NHWC); otherwise threads walk output pixels
// (contiguous along W in NCHW).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/launch.h"
#include "conv/conv.h"
#include "conv/conv_geometry.h"
#include "conv/conv_shape_host.h"

namespace convkernels {
namespace conv {

struct GenericKernelArgs {
  const void* input;
  const void* weight;
  ConvShape shape;
  int64_t input_strides[4];   // n, c, h, w
  int64_t weight_strides[4];  // k, c, r, s
  EpilogueOperands epilogue;  // residual/output strides: n, k, p, q
};

namespace generic {
constexpr int kBM = 64;
constexpr int kBN = 64;
constexpr int kBK = 16;
constexpr int kThreads = 256;
constexpr int kPad = 4;  // keeps float4 alignment, spreads the transposed stores over banks
constexpr int kLoadsPerThread = kBK * kBM / kThreads;  // 4 (same for the B tile)
static_assert(kBM == kBN, "A and B tiles share one load mapping");
}  // namespace generic

template <typename T, bool kChannelsInner>
__global__ void __launch_bounds__(generic::kThreads)
    conv2d_implicit_gemm_generic_kernel(const GenericKernelArgs args) {
  using namespace generic;
  __shared__ __align__(16) float a_tile[2][kBK][kBM + kPad];
  __shared__ __align__(16) float b_tile[2][kBK][kBN + kPad];

  const ConvShape& s = args.shape;
  const T* __restrict__ input = static_cast<const T*>(args.input);
  const T* __restrict__ weight = static_cast<const T*>(args.weight);
  const int64_t* is = args.input_strides;
  const int64_t* ws = args.weight_strides;
  const int tid = threadIdx.x;
  const int block_m = blockIdx.x * kBM;
  const int block_n = blockIdx.y * kBN;

  // Load i of this thread touches tile row load_row(i) (pixel for A, output channel for B)
  // and reduction column load_col(i). Channels-inner: 16 consecutive threads walk the
  // reduction (c is innermost in kg); otherwise 64 consecutive threads walk pixels.
  constexpr int kRowsPerThread = kChannelsInner ? kLoadsPerThread : 1;
  constexpr int kColsPerThread = kChannelsInner ? 1 : kLoadsPerThread;
  auto load_row = [&](int i) { return kChannelsInner ? tid / kBK + i * (kThreads / kBK) : tid % kBM; };
  auto load_col = [&](int i) { return kChannelsInner ? tid % kBK : tid / kBM + i * (kThreads / kBM); };

  // Per-row state, computed once: pixel base offset and window origin; weight row offset.
  int64_t a_base[kRowsPerThread];
  int a_h0[kRowsPerThread], a_w0[kRowsPerThread];
  int64_t b_base[kRowsPerThread];
  bool b_valid[kRowsPerThread];
#pragma unroll
  for (int j = 0; j < kRowsPerThread; ++j) {
    const int m = block_m + load_row(j);
    if (m < s.M) {
      const OutputPixel px = decompose_output_row(s, m);
      a_base[j] = px.n * is[0];
      a_h0[j] = px.p * s.stride_h - s.pad_h;
      a_w0[j] = px.q * s.stride_w - s.pad_w;
    } else {
      a_base[j] = 0;
      a_h0[j] = kMaskedRowOrigin;
      a_w0[j] = 0;
    }
    const int n = block_n + load_row(j);
    b_valid[j] = n < s.K;
    b_base[j] = b_valid[j] ? n * ws[0] : 0;
  }

  float a_regs[kLoadsPerThread];
  float b_regs[kLoadsPerThread];
  auto load_tile_to_registers = [&](int k_tile) {
    // Per reduction column: (r, s, c) -> offsets, shared by this thread's rows.
    int64_t a_col_off[kColsPerThread], b_col_off[kColsPerThread];
    int tap_h[kColsPerThread], tap_w[kColsPerThread];
    bool col_valid[kColsPerThread];
#pragma unroll
    for (int j = 0; j < kColsPerThread; ++j) {
      const int kg = k_tile * kBK + load_col(j);
      col_valid[j] = kg < s.Kg;
      const RscIndex k = decompose_reduction_index(s, col_valid[j] ? kg : 0);
      a_col_off[j] = k.c * is[1];
      b_col_off[j] = k.c * ws[1] + k.r * ws[2] + k.s * ws[3];
      tap_h[j] = k.r * s.dil_h;
      tap_w[j] = k.s * s.dil_w;
    }
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      const int row = kChannelsInner ? i : 0;
      const int col = kChannelsInner ? 0 : i;
      const int h = a_h0[row] + tap_h[col];
      const int w = a_w0[row] + tap_w[col];
      const bool a_ok = col_valid[col] && static_cast<unsigned>(h) < static_cast<unsigned>(s.H) &&
                        static_cast<unsigned>(w) < static_cast<unsigned>(s.W);
      a_regs[i] = a_ok ? load_as_float(input + (a_base[row] + a_col_off[col] + h * is[2] + w * is[3])) : 0.f;
      const bool b_ok = col_valid[col] && b_valid[row];
      b_regs[i] = b_ok ? load_as_float(weight + (b_base[row] + b_col_off[col])) : 0.f;
    }
  };
  auto store_registers_to_tile = [&](int buffer) {
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      a_tile[buffer][load_col(i)][load_row(i)] = a_regs[i];
      b_tile[buffer][load_col(i)][load_row(i)] = b_regs[i];
    }
  };

  // Compute mapping: 16x16 threads, thread owns pixels tm*4.. and channels tn*4.. ; the fast
  // thread index runs along the epilogue's contiguous dimension.
  const int tm = kChannelsInner ? tid / 16 : tid % 16;
  const int tn = kChannelsInner ? tid % 16 : tid / 16;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;

  const int num_k_tiles = ceil_div(s.Kg, kBK);
  if (num_k_tiles > 0) {
    load_tile_to_registers(0);
    store_registers_to_tile(0);
    __syncthreads();
  }
  for (int kt = 0; kt < num_k_tiles; ++kt) {
    const int buffer = kt & 1;
    const bool has_next = kt + 1 < num_k_tiles;
    if (has_next) load_tile_to_registers(kt + 1);  // global loads in flight during the FMAs
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      const float4 a = *reinterpret_cast<const float4*>(&a_tile[buffer][k][tm * 4]);
      const float4 b = *reinterpret_cast<const float4*>(&b_tile[buffer][k][tn * 4]);
      const float av[4] = {a.x, a.y, a.z, a.w};
      const float bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    // The other buffer was last read in iteration kt-1, before the barrier that ended it.
    if (has_next) store_registers_to_tile(buffer ^ 1);
    __syncthreads();
  }

  const EpilogueOperands& ep = args.epilogue;
  const T* __restrict__ residual = static_cast<const T*>(ep.residual);
  T* __restrict__ output = static_cast<T*>(ep.output);
  const int64_t* os = ep.output_strides;
  const int64_t* rs = ep.residual_strides;
  float scale[4], shift[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int k = block_n + tn * 4 + j;
    const ChannelAffine affine = ChannelAffine::load(ep, k < s.K ? k : 0);
    scale[j] = affine.scale;
    shift[j] = affine.shift;
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = block_m + tm * 4 + i;
    if (m >= s.M) continue;
    const OutputPixel px = decompose_output_row(s, m);
    const int64_t out_pixel = px.n * os[0] + px.p * os[2] + px.q * os[3];
    const int64_t res_pixel = px.n * rs[0] + px.p * rs[2] + px.q * rs[3];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int k = block_n + tn * 4 + j;
      if (k >= s.K) continue;
      const float res = residual != nullptr ? load_as_float(residual + (res_pixel + k * rs[1])) : 0.f;
      const float v = finish_epilogue(fmaf(acc[i][j], scale[j], shift[j]), res, ep.relu);
      store_from_float(output + (out_pixel + k * os[1]), v);
    }
  }
}

#define CK_INSTANTIATE_GENERIC(T)                                                                  \
  template __global__ void conv2d_implicit_gemm_generic_kernel<T, true>(const GenericKernelArgs); \
  template __global__ void conv2d_implicit_gemm_generic_kernel<T, false>(const GenericKernelArgs);
CK_INSTANTIATE_GENERIC(float)
CK_INSTANTIATE_GENERIC(__half)
CK_INSTANTIATE_GENERIC(__nv_bfloat16)
#undef CK_INSTANTIATE_GENERIC

namespace {

template <typename T>
cudaError_t launch_generic(const GenericKernelArgs& args, bool channels_inner, cudaStream_t stream) {
  const dim3 grid(ceil_div(args.shape.M, generic::kBM), ceil_div(args.shape.K, generic::kBN));
  if (channels_inner) {
    conv2d_implicit_gemm_generic_kernel<T, true><<<grid, generic::kThreads, 0, stream>>>(args);
  } else {
    conv2d_implicit_gemm_generic_kernel<T, false><<<grid, generic::kThreads, 0, stream>>>(args);
  }
  return launch_status();
}

}  // namespace
}  // namespace conv

const char* conv2d_index_limit_violation(const Conv2dParams& p) { return conv::index_limit_violation(p); }

cudaError_t launch_conv2d_implicit_gemm_generic(const Conv2dParams& p, DType dtype, cudaStream_t stream) {
  using namespace conv;
  if (index_limit_violation(p)[0] != '\0') return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q == 0 || p.K == 0) return cudaSuccess;
  GenericKernelArgs args;
  args.input = p.input;
  args.weight = p.weight;
  args.shape = make_conv_shape(p);
  for (int d = 0; d < 4; ++d) {
    args.input_strides[d] = p.input_strides[d];
    args.weight_strides[d] = p.weight_strides[d];
  }
  args.epilogue = make_epilogue_operands(p);
  // Channel-contiguous input (NHWC-like): walk the reduction with consecutive threads.
  const bool channels_inner = p.input_strides[1] == 1 && p.C > 1;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_generic<T>(args, channels_inner, stream);
  });
}

}  // namespace convkernels
