// Torch glue of the grouped / depthwise forward (csrc/kernels/grouped/grouped_direct.cu). Reached
// from cuda_conv2d_fused when groups > 1, after that op's checks (shapes, dtypes, devices, epilogue
// operands), so grouped and dense convolutions share one schema, one fake kernel and one autograd
// formula. The kernel reads every tensor through its strides: no layout copies.
#include "ops/grouped.h"

#include "grouped/grouped.h"
#include "ops/checks.h"

namespace convkernels {
namespace ops {

void run_conv2d_grouped(const char* op, Conv2dParams p, const at::Tensor& input, const at::Tensor& weight,
                        int64_t groups, DType dtype, cudaStream_t stream) {
  TORCH_CHECK(p.K % groups == 0, op, ": out_channels (", p.K, ") of weight ", weight.sizes(),
              " must be divisible by groups (", groups, ")");
  check_index_limits(op, grouped_conv2d_index_limit_violation(p, groups));
  p.input = input.data_ptr();
  p.weight = weight.data_ptr();
  copy_strides(p.input_strides, input);
  copy_strides(p.weight_strides, weight);
  check_launch(op, launch_conv2d_grouped_direct(p, groups, dtype, stream));
}

}  // namespace ops
}  // namespace convkernels
