// Public interface of the resize-convolution kernels: out = act(conv2d(upsample(in, s), wt) *
// scale[k] + shift[k]) with nearest or bilinear upsampling by an integer factor s, without ever
// storing the upsampled image. Pure CUDA runtime API; the torch glue is csrc/ops/resize_conv.cpp.
//
// Nearest: the caller passes the phase-folded weight (convkernels/reference/resize_conv.py and
// phase_plan.h): output rows o = rho + L*j of residue class rho are a plain conv over the low-res
// input with the class's folded Th x Tw kernel, stride t/gcd(s, t), first row d0(rho). One
// tensor-core launch computes every class (grid.z = class) and writes the interleaved output.
//
// Bilinear: a SIMT implicit GEMM whose A-operand loads interpolate each upsampled value from four
// low-res pixels (F.interpolate's source index rule, border clamp and rounding to the input dtype).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"

namespace convkernels {

struct ResizeConvParams {
  const void* input = nullptr;   // [N, C, H, W] logical, low resolution, element strides below
  const void* weight = nullptr;  // nearest: folded [Lh, Lw, K, C, Th, Tw]; bilinear: [K, C, R, S]
  const float* scale = nullptr;  // [K] fp32 or null (= 1)
  const float* shift = nullptr;  // [K] fp32 or null (= 0)
  void* output = nullptr;        // [N, K, P, Q] logical, input dtype, on the upsampled grid
  int64_t N = 0, C = 0, H = 0, W = 0, K = 0;
  int64_t R = 0, S = 0;  // kernel size of the conv on the upsampled image
  int64_t P = 0, Q = 0;  // P = (s*H + 2*pad_h - R) / stride_h + 1
  int64_t scale_factor = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool align_corners = false;  // bilinear only
  int64_t input_strides[4] = {0, 0, 0, 0};               // n, c, h, w
  int64_t weight_strides[6] = {0, 0, 0, 0, 0, 0};        // nearest: a, b, k, c, t, u; bilinear: k, c, r, s
  int64_t output_strides[4] = {0, 0, 0, 0};              // n, k, p, q
  bool relu = false;
  // fp32 only: 3xTF32 ("tf32x3") on the tensor-core kernels, each operand split into TF32 high and
  // residual parts and three m16n8k8 mma per product (fp32-level error); it asks for the
  // tensor-core path whatever allow_tensor_cores says. Where that path cannot run (layout, C,
  // pre-sm_80) the SIMT kernels compute in fp32, at least as accurate. Ignored for fp16/bf16.
  bool split_tf32 = false;
};

// Empty string when the sizes fit the kernels' 32-bit row/reduction indices (offsets are 64-bit);
// otherwise which extent is too large.
const char* resize_conv_index_limit_violation(const ResizeConvParams& p);

// Nearest. `allow_tensor_cores`: fp32 may use TF32 (the caller follows cuDNN's flag); fp16/bf16
// pass true. p.split_tf32 runs fp32 on the tensor cores in 3xTF32 instead. Tensor cores when the
// input is dense NHWC with C % (16 bytes) == 0, the folded weight is dense [Lh, Lw, K, Th, Tw, C]
// in memory and the device is sm_80+ (one launch, up to 16 classes per launch); otherwise the
// SIMT conv kernel once per class, reading through strides.
cudaError_t launch_resize_nearest_conv2d(const ResizeConvParams& p, DType dtype, bool allow_tensor_cores,
                                         cudaStream_t stream);

// Bilinear. Tensor cores when `allow_tensor_cores` or p.split_tf32 (as for nearest) and
// resize_bilinear_tc_supported(): input dense NHWC, weight dense KRSC, 16-byte aligned, C % (16
// bytes) == 0, sm_80+. Otherwise a SIMT implicit GEMM (fp32 accumulate) through any strides.
cudaError_t launch_resize_bilinear_conv2d(const ResizeConvParams& p, DType dtype, bool allow_tensor_cores,
                                          cudaStream_t stream);
bool resize_bilinear_tc_supported(const ResizeConvParams& p, DType dtype);
cudaError_t launch_resize_bilinear_tc(const ResizeConvParams& p, DType dtype, cudaStream_t stream);

}  // namespace convkernels
