// Torch glue of the grouped / depthwise forward (csrc/kernels/depthwise/grouped_direct.cu). Reached
// from cuda_conv2d_fused when groups > 1, after that op's checks (shapes, dtypes, devices, epilogue
// operands), so grouped and dense convolutions share one schema, one fake kernel and one autograd
// formula. Kernel choice, first match wins:
//  1. dense channels_last depthwise (multiplier 1, C % 4 == 0, aligned): the vectorized NHWC kernel;
//  2. fp16/bf16 dense channels_last grouped with even Cg >= 4 and Kg % 8 == 0 or Kg in {2, 4}, on
//     sm_80+: the tensor-core kernel (grouped_tc.cu), weight re-laid out as KRSC;
//  3. everything else: the direct kernel, which reads every tensor through its strides.
#include "ops/depthwise.h"

#include "depthwise/depthwise.h"
#include "ops/checks.h"

namespace convkernels {
namespace ops {

void run_conv2d_grouped(const char* op, Conv2dParams p, const at::Tensor& input, const at::Tensor& weight,
                        int64_t groups, DType dtype, cudaStream_t stream) {
  TORCH_CHECK(p.K % groups == 0, op, ": out_channels (", p.K, ") of weight ", weight.sizes(),
              " must be divisible by groups (", groups, ")");
  check_index_limits(op, grouped_conv2d_index_limit_violation(p, groups));
  p.input = input.data_ptr();
  copy_strides(p.input_strides, input);
  if (groups == p.C && p.K == p.C) {
    // Dense channels_last depthwise: the vectorized kernel, with the weight as [R, S, C].
    const at::Tensor weight_rsc = weight.permute({2, 3, 0, 1}).contiguous();
    Conv2dParams vec = p;
    vec.weight = weight_rsc.data_ptr();
    if (depthwise_nhwc_vec_supported(vec, groups, dtype)) {
      check_launch(op, launch_depthwise_conv2d_nhwc_vec(vec, dtype, stream));
      return;  // weight_rsc is released stream-ordered by the caching allocator
    }
  }
  if (dtype != DType::kFloat32 && p.input_strides[1] == 1 && groups < p.C) {
    // fp16/bf16 channels_last grouped: tensor cores, with the weight as dense KRSC.
    const at::Tensor weight_krsc = weight.permute({0, 2, 3, 1}).contiguous();
    Conv2dParams tc = p;
    tc.weight = weight_krsc.data_ptr();
    if (conv2d_grouped_tc_supported(tc, groups, dtype)) {
      check_launch(op, launch_conv2d_grouped_tc(tc, groups, dtype, stream));
      return;
    }
  }
  p.weight = weight.data_ptr();
  copy_strides(p.weight_strides, weight);
  check_launch(op, launch_conv2d_grouped_direct(p, groups, dtype, stream));
}

}  // namespace ops
}  // namespace convkernels
