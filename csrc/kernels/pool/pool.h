// Public interface of the pooling kernels (max, average, adaptive, unpool). Pure CUDA runtime
// API; the torch glue is csrc/ops/pool.cpp. Every launcher writes a freshly allocated output
// that is dense in NCHW or channels_last order (`channels_last`), reads its other tensors
// through arbitrary element strides, returns a cudaError_t and never throws.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"
#include "pool/pool_geometry.h"

namespace convkernels {

// Forward of max / average / adaptive pooling: input [N, C, H, W] -> output [N, C, OH, OW].
struct Pool2dParams {
  const void* input = nullptr;
  void* output = nullptr;
  int64_t* indices = nullptr;  // max only, or null: flat h * W + w per plane, laid out like output
  int64_t N = 0, C = 0;
  PoolWindow2d window;  // sizes and window rule (fixed or adaptive)
  int64_t input_strides[4] = {0, 0, 0, 0};  // n, c, h, w
  bool channels_last = false;               // layout of output (and indices)
  bool count_include_pad = true;            // average only
  int64_t divisor_override = 0;             // average only; 0 = none
  bool force_int64 = false;                 // take the 64-bit index path even when 32 bits suffice
};

// Backward (gather form): grad_output [N, C, OH, OW] (+ indices for max) -> grad_input [N, C, H, W].
struct Pool2dBackwardParams {
  const void* grad_output = nullptr;
  const int64_t* indices = nullptr;  // max only
  void* grad_input = nullptr;
  int64_t N = 0, C = 0;
  PoolWindow2d window;
  int64_t grad_output_strides[4] = {0, 0, 0, 0};
  int64_t indices_strides[4] = {0, 0, 0, 0};
  bool channels_last = false;  // layout of grad_input
  bool count_include_pad = true;
  int64_t divisor_override = 0;
  bool force_int64 = false;
};

// Empty string when the sizes are supported (planes must have < 2^31 elements so that an
// index fits the int32 registers that carry it); otherwise why.
const char* pool2d_limit_violation(int64_t N, int64_t C, const PoolWindow2d& window);

cudaError_t launch_max_pool2d(const Pool2dParams& p, DType dtype, cudaStream_t stream);
cudaError_t launch_max_pool2d_backward(const Pool2dBackwardParams& p, DType dtype, cudaStream_t stream);
cudaError_t launch_avg_pool2d(const Pool2dParams& p, DType dtype, cudaStream_t stream);
cudaError_t launch_avg_pool2d_backward(const Pool2dBackwardParams& p, DType dtype, cudaStream_t stream);

// max_unpool2d forward: output (zero-filled by the caller) [N, C, OH, OW] receives
// input[n, c, h, w] at plane offset indices[n, c, h, w] (every index in [0, OH*OW), checked by
// the caller). Backward: grad_input[n, c, h, w] = grad_output[n, c, plane offset].
struct Unpool2dParams {
  const void* source = nullptr;  // forward: input; backward: grad_output
  const int64_t* indices = nullptr;
  void* dest = nullptr;          // forward: output; backward: grad_input
  int64_t N = 0, C = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t source_strides[4] = {0, 0, 0, 0};
  int64_t indices_strides[4] = {0, 0, 0, 0};
  int64_t dest_strides[4] = {0, 0, 0, 0};
  bool force_int64 = false;
};

cudaError_t launch_max_unpool2d(const Unpool2dParams& p, DType dtype, cudaStream_t stream);
cudaError_t launch_max_unpool2d_backward(const Unpool2dParams& p, DType dtype, cudaStream_t stream);

}  // namespace convkernels
