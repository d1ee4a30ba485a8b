// PoolWindow2d construction with torch's output-size rules, from a primitive's int[2] arguments
// (checked here). Used by the pool glue and by the LRN glue's fused LRN + max-pool.
#pragma once

#include <ATen/core/Tensor.h>

#include "ops/checks.h"
#include "pool/pool_geometry.h"

namespace convkernels {
namespace ops {

inline PoolWindow2d fixed_window(const char* op, int64_t H, int64_t W, at::IntArrayRef kernel, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  check_pair(op, "kernel", kernel);
  check_pair(op, "stride", stride);
  check_pair(op, "padding", padding);
  check_pair(op, "dilation", dilation);
  for (int d = 0; d < 2; ++d) {
    TORCH_CHECK(kernel[d] > 0 && stride[d] > 0 && dilation[d] > 0, op,
                ": kernel, stride and dilation must be positive, got ", kernel, ", ", stride, ", ", dilation);
    TORCH_CHECK(padding[d] >= 0 && padding[d] <= kernel[d] / 2, op,
                ": padding must be between 0 and half the kernel size, got ", padding, " for kernel ", kernel);
  }
  const int64_t OH = pool_output_size(H, kernel[0], stride[0], padding[0], dilation[0], ceil_mode);
  const int64_t OW = pool_output_size(W, kernel[1], stride[1], padding[1], dilation[1], ceil_mode);
  TORCH_CHECK(OH > 0 && OW > 0, op, ": given input size (", H, "x", W, "), the calculated output size (", OH, "x",
              OW, ") is too small");
  PoolWindow2d g;
  g.h = fixed_axis(H, OH, kernel[0], stride[0], padding[0], dilation[0]);
  g.w = fixed_axis(W, OW, kernel[1], stride[1], padding[1], dilation[1]);
  return g;
}

// Window of a backward primitive: the input plane from input_size, the output from grad_output.
inline PoolWindow2d backward_window(const char* op, const at::Tensor& grad_output, at::IntArrayRef input_size,
                                    at::IntArrayRef kernel, at::IntArrayRef stride, at::IntArrayRef padding,
                                    at::IntArrayRef dilation) {
  check_pair(op, "input_size", input_size);
  TORCH_CHECK(input_size[0] > 0 && input_size[1] > 0, op, ": input_size must be positive, got ", input_size);
  PoolWindow2d g = fixed_window(op, input_size[0], input_size[1], kernel, stride, padding, dilation, true);
  // ceil_mode is implied by the gradient's size: it is either the floor or the ceil size.
  const int64_t floor_h = pool_output_size(input_size[0], kernel[0], stride[0], padding[0], dilation[0], false);
  const int64_t floor_w = pool_output_size(input_size[1], kernel[1], stride[1], padding[1], dilation[1], false);
  const int64_t OH = grad_output.size(2), OW = grad_output.size(3);
  TORCH_CHECK((OH == g.h.out || OH == floor_h) && (OW == g.w.out || OW == floor_w), op, ": grad_output has spatial size (",
              OH, "x", OW, "), which no pooling of a (", input_size[0], "x", input_size[1], ") input with these arguments gives");
  g.h.out = OH, g.w.out = OW;
  return g;
}

inline PoolWindow2d adaptive_window(const char* op, int64_t H, int64_t W, at::IntArrayRef output_size) {
  check_pair(op, "output_size", output_size);
  TORCH_CHECK(output_size[0] > 0 && output_size[1] > 0 && H > 0 && W > 0, op,
              ": input and output sizes must be positive, got input (", H, "x", W, ") and output_size ", output_size);
  PoolWindow2d g;
  g.adaptive = true;
  g.h = adaptive_axis(H, output_size[0]);
  g.w = adaptive_axis(W, output_size[1]);
  return g;
}

}  // namespace ops
}  // namespace convkernels
