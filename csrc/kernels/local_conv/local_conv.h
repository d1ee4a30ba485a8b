// Public interface of the locally connected (unshared-weight) convolution kernel. Pure CUDA
// runtime API: the torch glue (csrc/ops/local_conv.cpp) fills LocalConv2dParams and launches.
//
//   out[n,k,p,q] = bias[k,p,q] + sum_{c,r,s} in[n,c,h,w] * wt[p,q,k,c,r,s]
//   h = p*stride_h - pad_h + r*dil_h,  w = q*stride_w - pad_w + s*dil_w
//
// One GEMM per output position l = p*Q + q: [N x J] patches times [J x K] filters, J = C*R*S.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"

namespace convkernels {

struct LocalConv2dParams {
  const void* input = nullptr;   // [N, C, H, W] logical, element strides below
  const void* weight = nullptr;  // [P*Q, K, J] dense, J = C*R*S in (c, r, s) order
  const void* bias = nullptr;    // [K, P*Q] dense, input dtype, or null
  void* output = nullptr;        // [N, K, P, Q] logical, element strides below
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t K = 0, R = 0, S = 0;
  int64_t P = 0, Q = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t input_strides[4] = {0, 0, 0, 0};   // n, c, h, w
  int64_t output_strides[4] = {0, 0, 0, 0};  // n, k, p, q
};

// SIMT tiled kernel for fp32 / fp16 / bf16 (fp32 accumulate, one rounding), any input and
// output strides, 64-bit offsets. cudaErrorInvalidValue when a grid dimension would overflow.
cudaError_t launch_local_conv2d(const LocalConv2dParams& p, DType dtype, cudaStream_t stream);

}  // namespace convkernels
