// Locally connected 2-D convolution: one small GEMM per output position, SIMT, fp32 accumulate.
//
// Grid (P*Q positions, N tiles x K tiles); a CTA computes a kTileN x kTileK block of one
// position's outputs, 256 threads with 2 x 2 outputs each. The reduction J = C*R*S runs in
// kTileJ steps: the patch tile is gathered from the input through its strides (padding
// masked, consecutive threads on consecutive j, i.e. along W for NCHW) and the filter tile is
// read along its contiguous J axis (the glue makes the weight dense [P*Q, K, J]); both are
// staged in shared memory as [j][n] and [j][k] so the inner loop reads broadcast rows. The
// weight is read once per N tile, which is the op's compulsory traffic at batch <= kTileN.
//
// Epilogue: + bias[k, position] (untied bias), one rounding to the output dtype, stored
// through the output's strides (NCHW or NHWC, no transpose pass).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "local_conv/local_conv.h"

namespace convkernels {
namespace local_conv {

constexpr int kTileN = 32;
constexpr int kTileK = 32;
constexpr int kTileJ = 32;
constexpr int kThreads = 256;
constexpr int kLoadsPerThread = kTileJ * kTileN / kThreads;  // 4 (same for the filter tile)
static_assert(kTileN == kTileK, "patch and filter tiles share one load mapping");

template <typename T>
__global__ void __launch_bounds__(kThreads) local_conv2d_kernel(const LocalConv2dParams p) {
  __shared__ float patch[kTileJ][kTileN + 1];   // +1: the transposed stores spread over banks
  __shared__ float filter[kTileJ][kTileK + 1];

  const T* __restrict__ input = static_cast<const T*>(p.input);
  const T* __restrict__ weight = static_cast<const T*>(p.weight);
  const int64_t pos = blockIdx.x;
  const int64_t out_p = pos / p.Q, out_q = pos % p.Q;
  const int64_t k_tiles = (p.K + kTileK - 1) / kTileK;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) / k_tiles * kTileN;
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) % k_tiles * kTileK;
  const int64_t J = p.C * p.R * p.S, RS = p.R * p.S;
  const T* __restrict__ filters = weight + pos * p.K * J;
  const int tid = threadIdx.x;
  const int ty = tid / (kTileK / 2), tx = tid % (kTileK / 2);  // 16 x 16 threads, 2 x 2 outputs

  float acc[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
  for (int64_t j0 = 0; j0 < J; j0 += kTileJ) {
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      const int e = tid + i * kThreads;
      const int jj = e % kTileJ, row = e / kTileJ;  // row: image (patch) or output channel
      const int64_t j = j0 + jj;
      float a = 0.f, b = 0.f;
      if (j < J) {
        const int64_t c = j / RS, rs = j % RS;
        const int64_t h = out_p * p.stride_h - p.pad_h + (rs / p.S) * p.dil_h;
        const int64_t w = out_q * p.stride_w - p.pad_w + (rs % p.S) * p.dil_w;
        const int64_t n = n0 + row;
        if (n < p.N && h >= 0 && h < p.H && w >= 0 && w < p.W) {
          a = load_as_float(input + n * p.input_strides[0] + c * p.input_strides[1] +
                            h * p.input_strides[2] + w * p.input_strides[3]);
        }
        const int64_t k = k0 + row;
        if (k < p.K) b = load_as_float(filters + k * J + j);
      }
      patch[jj][row] = a;
      filter[jj][row] = b;
    }
    __syncthreads();
#pragma unroll 8
    for (int jj = 0; jj < kTileJ; ++jj) {
      const float a0 = patch[jj][2 * ty], a1 = patch[jj][2 * ty + 1];
      const float b0 = filter[jj][2 * tx], b1 = filter[jj][2 * tx + 1];
      acc[0][0] += a0 * b0;
      acc[0][1] += a0 * b1;
      acc[1][0] += a1 * b0;
      acc[1][1] += a1 * b1;
    }
    __syncthreads();  // the next tile overwrites what this one read
  }

  T* __restrict__ output = static_cast<T*>(p.output);
  const T* __restrict__ bias = static_cast<const T*>(p.bias);
  const int64_t PQ = p.P * p.Q;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int64_t n = n0 + 2 * ty + i;
    if (n >= p.N) continue;
#pragma unroll
    for (int t = 0; t < 2; ++t) {
      const int64_t k = k0 + 2 * tx + t;
      if (k >= p.K) continue;
      float v = acc[i][t];
      if (bias != nullptr) v += load_as_float(bias + k * PQ + pos);
      store_from_float(output + n * p.output_strides[0] + k * p.output_strides[1] +
                           out_p * p.output_strides[2] + out_q * p.output_strides[3],
                       v);
    }
  }
}

template <typename T>
cudaError_t launch_typed(const LocalConv2dParams& p, cudaStream_t stream) {
  const int64_t n_tiles = (p.N + kTileN - 1) / kTileN, k_tiles = (p.K + kTileK - 1) / kTileK;
  // gridDim.x allows 2^31 - 1 positions, gridDim.y 65535 (image tile, channel tile) pairs.
  if (p.P * p.Q > 2147483647LL || n_tiles * k_tiles > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(p.P * p.Q), static_cast<unsigned>(n_tiles * k_tiles));
  local_conv2d_kernel<T><<<grid, kThreads, 0, stream>>>(p);
  return launch_status();
}

}  // namespace local_conv

cudaError_t launch_local_conv2d(const LocalConv2dParams& p, DType dtype, cudaStream_t stream) {
  if (p.N == 0 || p.K == 0 || p.P * p.Q == 0) return cudaSuccess;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return local_conv::launch_typed<T>(p, stream);
  });
}

template cudaError_t local_conv::launch_typed<float>(const LocalConv2dParams&, cudaStream_t);
template cudaError_t local_conv::launch_typed<__half>(const LocalConv2dParams&, cudaStream_t);
template cudaError_t local_conv::launch_typed<__nv_bfloat16>(const LocalConv2dParams&, cudaStream_t);

}  // namespace convkernels
