// Sm90ConvSetup -> CUTLASS's ConvProblemShape. Host code over CUTLASS headers only (no device
// code), so the host tests compile it with g++ and check it against CUTLASS's own shape math.
#pragma once

#include "conv/sm90/conv_sm90_setup.h"
#include "cute/tensor.hpp"  // convnd_problem_shape.hpp uses cute algorithms it does not include
#include "cutlass/conv/convnd_problem_shape.hpp"

namespace convkernels {
namespace conv {
namespace sm90 {

using Fprop2dShape = cutlass::conv::ConvProblemShape<cutlass::conv::Operator::kFprop, 2>;

inline Fprop2dShape make_problem_shape(const Sm90ConvSetup& s) {
  Fprop2dShape::TensorExtent shape_act{}, shape_flt{};
  Fprop2dShape::TensorStride stride_act{}, stride_flt{};
  for (int i = 0; i < 4; ++i) {
    shape_act[i] = s.shape_act[i];
    stride_act[i] = s.stride_act[i];
    shape_flt[i] = s.shape_flt[i];
    stride_flt[i] = s.stride_flt[i];
  }
  // The constructor derives the output extents (shape_C) from these and CUTLASS's formula;
  // conv2d_sm90_refusal has checked that they equal our P and Q.
  return Fprop2dShape(cutlass::conv::Mode::kCrossCorrelation, shape_act, stride_act, shape_flt, stride_flt,
                      {s.lower_padding[0], s.lower_padding[1]}, {s.upper_padding[0], s.upper_padding[1]},
                      {s.traversal_stride[0], s.traversal_stride[1]}, {s.dilation[0], s.dilation[1]},
                      /*groups=*/1);
}

}  // namespace sm90
}  // namespace conv
}  // namespace convkernels
