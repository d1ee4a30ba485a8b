// Public interface of the local response normalization kernels (and LRN fused with max-pool).
// Pure CUDA runtime API; the torch glue is csrc/ops/lrn.cpp. torch's semantics: channel c's
// window is [c - size/2, c + (size-1)/2] (zero padded), s_c = k + alpha/size * sum x^2,
// y_c = x_c * s_c^-beta. Outputs are dense NCHW or channels_last; inputs any strides.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"
#include "pool/pool_geometry.h"

namespace convkernels {

struct LrnCoefficients {
  int64_t size = 5;
  float alpha = 1e-4f;  // as the user gives it; the kernels use alpha / size
  float beta = 0.75f;
  float k = 1.f;
};

// Forward (grad_output == nullptr) or backward: grad_input from grad_output and the forward's input.
struct LrnParams {
  const void* input = nullptr;
  const void* grad_output = nullptr;  // backward only
  void* output = nullptr;             // forward: y; backward: grad_input
  int64_t N = 0, C = 0, H = 0, W = 0;
  LrnCoefficients lrn;
  int64_t input_strides[4] = {0, 0, 0, 0};
  int64_t grad_output_strides[4] = {0, 0, 0, 0};
  bool channels_last = false;  // layout of output
  bool force_int64 = false;
};

// Empty string when supported, else why (C and the window must fit 32 bits; planes < 2^31).
const char* lrn_limit_violation(const LrnParams& p);

cudaError_t launch_local_response_norm(const LrnParams& p, DType dtype, cudaStream_t stream);
cudaError_t launch_local_response_norm_backward(const LrnParams& p, DType dtype, cudaStream_t stream);

// LRN then max-pool (pool_first = false: AlexNet), or max-pool then LRN (pool_first = true:
// GoogLeNet), reading the input once; indices (optional) are the max-pool's, h * W + w.
struct LrnMaxPoolParams {
  const void* input = nullptr;
  void* output = nullptr;
  int64_t* indices = nullptr;
  int64_t N = 0, C = 0;
  PoolWindow2d window;  // fixed windows
  LrnCoefficients lrn;
  bool pool_first = false;
  int64_t input_strides[4] = {0, 0, 0, 0};
  bool channels_last = false;
  bool force_int64 = false;
};

cudaError_t launch_lrn_max_pool2d(const LrnMaxPoolParams& p, DType dtype, cudaStream_t stream);

}  // namespace convkernels
