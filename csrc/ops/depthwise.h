// Hook from cuda_conv2d_fused (csrc/ops/conv.cpp) into the grouped / depthwise kernels.
#pragma once

#include <ATen/core/Tensor.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"
#include "conv/conv.h"

namespace convkernels {
namespace ops {

// Runs a groups > 1 convolution. `p` carries everything of the validated call except the input and
// weight pointers/strides (output, epilogue operands, geometry), exactly as the direct path fills it.
void run_conv2d_grouped(const char* op, Conv2dParams p, const at::Tensor& input, const at::Tensor& weight,
                        int64_t groups, DType dtype, cudaStream_t stream);

}  // namespace ops
}  // namespace convkernels
