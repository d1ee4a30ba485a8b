// Public interface of the Winograd F(m x m, 3x3) convolution kernels (m = 2 or 4). Pure CUDA
// runtime API: the torch glue (csrc/ops/winograd.cpp) fills the params and calls a launcher.
//
//   U[e][k][c]  = (G w[k][c] G^T)[e]                 e = (xi, nu) in alpha x alpha, alpha = m + 2
//   out[n,k,p,q] = act((A^T [sum_c U[.][k][c] * (B^T d[n,c,tile] B)] A)[p % m, q % m] * scale[k]
//                      + shift[k] + res[n,k,p,q])     stride 1, dilation 1, groups 1
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"

namespace convkernels {

struct WinogradFilterParams {
  const void* weight = nullptr;  // [K, C, 3, 3] logical, element strides below
  void* transformed = nullptr;   // [alpha^2, K, C] dense, weight dtype
  int64_t K = 0, C = 0;
  int64_t weight_strides[4] = {0, 0, 0, 0};  // k, c, r, s
};

struct WinogradConvParams {
  const void* input = nullptr;        // [N, C, H, W] logical, element strides below
  const void* transformed = nullptr;  // [alpha^2, K, C] dense, input dtype (from the filter transform)
  const float* scale = nullptr;       // [K] fp32 or null (= 1)
  const float* shift = nullptr;       // [K] fp32 or null (= 0)
  const void* residual = nullptr;     // [N, K, P, Q] logical, input dtype, or null
  void* output = nullptr;             // [N, K, P, Q] logical, input dtype
  int64_t N = 0, C = 0, H = 0, W = 0, K = 0, P = 0, Q = 0;
  int64_t pad_h = 0, pad_w = 0;
  int64_t input_strides[4] = {0, 0, 0, 0};     // n, c, h, w
  int64_t residual_strides[4] = {0, 0, 0, 0};  // n, k, p, q
  int64_t output_strides[4] = {0, 0, 0, 0};    // n, k, p, q
  bool relu = false;
  // fp32 only: the caller allows TF32 math (torch's cuDNN-convolution flag), so on sm_80+ the
  // per-point GEMM runs on tensor cores (mma.sync m16n8k8 .tf32: V and U rounded to TF32 as
  // operands, fp32 accumulation). Ignored for fp16/bf16 and below sm_80.
  bool allow_tf32 = false;
  // fp32 only: 3xTF32 ("tf32x3") instead, whatever allow_tf32 says: on sm_80+ V and U are each
  // split into TF32 high and residual parts and every product is three m16n8k8 .tf32 mma, for an
  // error at the level of fp32 arithmetic. Below sm_80 the SIMT fp32 path runs (at least as
  // accurate). Ignored for fp16/bf16.
  bool split_tf32 = false;
};

// Empty string when the tile count N * ceil(P/m) * ceil(Q/m) and K, C fit the kernels' 32-bit
// tile / channel indices (element offsets are 64-bit everywhere); otherwise why not.
const char* winograd_index_limit_violation(const WinogradConvParams& p, int tile);

// U = G w G^T in fp32, rounded once to the dtype. tile is m (2 or 4).
cudaError_t launch_winograd_filter_transform(const WinogradFilterParams& p, int tile, DType dtype,
                                             cudaStream_t stream);

// The fused kernel: per CTA 32 tiles x 32 (F(2x2)) / 16 (F(4x4)) output channels; per C slice
// the input transform B^T d B (fp32, rounded once to the dtype) into shared memory, the
// per-point GEMM over C (fp16/bf16: mma.sync m16n8k16 tensor cores on sm_80+; fp32 on sm_80+
// with p.split_tf32: three mma.sync m16n8k8 .tf32 per product (3xTF32), else with p.allow_tf32:
// one; fp32 otherwise: SIMT fp32 FMA, IEEE), then
// the output transform A^T M A and the epilogue in fp32, written through the output's strides.
// No global workspace. tile is m (2 or 4).
cudaError_t launch_winograd_conv2d(const WinogradConvParams& p, int tile, DType dtype, cudaStream_t stream);

// Dynamic shared memory the fused kernel needs (for reporting and the opt-in above 48 KB), for
// the fp32 math that tf32 / split_tf32 (as in WinogradConvParams) select on sm_80+.
int winograd_conv2d_smem_bytes(int tile, DType dtype, bool tf32, bool split_tf32 = false);

}  // namespace convkernels
