// Public interface of the direct (implicit-GEMM) convolution kernels. Pure CUDA runtime API:
// the torch glue (csrc/ops/conv.cpp) fills Conv2dParams from tensors and calls a launcher.
//
//   out[n,k,p,q] = act(sum_{c,r,s} in[n,c,h,w] * wt[k,c,r,s] * scale[k] + shift[k] + res[n,k,p,q])
//   h = p*stride_h - pad_h + r*dil_h,  w = q*stride_w - pad_w + s*dil_w
//
// GEMM view: M = N*P*Q output pixels, N_gemm = K output channels, K_gemm = C*R*S, no im2col.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"

namespace convkernels {

struct Conv2dParams {
  const void* input = nullptr;     // [N, C, H, W] logical, element strides below
  const void* weight = nullptr;    // [K, C, R, S] logical
  const float* scale = nullptr;    // [K] fp32 or null (= 1)
  const float* shift = nullptr;    // [K] fp32 or null (= 0)
  const void* residual = nullptr;  // [N, K, P, Q] logical, input dtype, or null
  void* output = nullptr;          // [N, K, P, Q] logical, input dtype
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t K = 0, R = 0, S = 0;
  int64_t P = 0, Q = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t input_strides[4] = {0, 0, 0, 0};     // n, c, h, w
  int64_t weight_strides[4] = {0, 0, 0, 0};    // k, c, r, s
  int64_t residual_strides[4] = {0, 0, 0, 0};  // n, k, p, q
  int64_t output_strides[4] = {0, 0, 0, 0};    // n, k, p, q
  bool relu = false;
};

// Empty string when the shape fits the kernels' 32-bit row/reduction indices (offsets are
// 64-bit everywhere); otherwise a sentence saying which extent is too large.
const char* conv2d_index_limit_violation(const Conv2dParams& p);

// True when the tensor-core kernel can run these params on the current device: C a multiple of
// 16 bytes' worth of elements (C % 8 == 0 for fp16/bf16, C % 4 == 0 for fp32), input dense NHWC,
// weight dense KRSC (logical strides {R*S*C, 1, S*C, C}), 16-byte aligned input/weight pointers,
// sm_80 or newer. Output and residual may have any strides.
bool conv2d_tc_supported(const Conv2dParams& p, DType dtype);

// Tensor cores (ldmatrix + mma.sync, cp.async pipeline): fp16/bf16 with m16n8k16, and fp32 with
// TF32 math (operands rounded to TF32, m16n8k8; fp32 accumulation and epilogue). fp32 therefore
// loses precision here: the caller decides whether TF32 is allowed (torch's cuDNN flag).
// split_tf32 (fp32 only; ignored for fp16/bf16): 3xTF32 ("tf32x3") instead, each operand split
// into TF32 high and residual parts and three m16n8k8 mma per product, for an error at the level
// of fp32 arithmetic at three times the tensor-core work.
// Requires conv2d_tc_supported(p, dtype); returns cudaErrorInvalidValue otherwise.
cudaError_t launch_conv2d_implicit_gemm_tc(const Conv2dParams& p, DType dtype, cudaStream_t stream,
                                           bool split_tf32 = false);

// SIMT fallback for every dtype and every stride pattern (fp32 accumulate).
cudaError_t launch_conv2d_implicit_gemm_generic(const Conv2dParams& p, DType dtype, cudaStream_t stream);

}  // namespace convkernels
