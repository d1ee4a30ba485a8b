// The CUTLASS 3.x sm_90a conv fprop assembled for this library: TMA im2col loads of the NHWC
// activation, TMA loads of the KRSC filter, wgmma (fp16/bf16 in, fp32 accumulate) in a
// warp-specialized pipeline, and an epilogue-visitor tree for the fused epilogue.
// Included by one .cu per element type; needs -gencode arch=compute_90a,code=sm_90a (wgmma and
// setmaxnreg exist only in the arch-specific target) and the CUTLASS include directory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "conv/sm90/conv_sm90.h"
#include "conv/sm90/conv_sm90_problem.h"
#include "conv/sm90/conv_sm90_setup.h"
// cutlass.h and kernel_hardware_info.hpp first: the conv collective headers use
// cutlass::KernelHardwareInfo without including it.
#include "cutlass/cutlass.h"
#include "cutlass/kernel_hardware_info.hpp"
#include "cute/tensor.hpp"
#include "cutlass/conv/collective/collective_builder.hpp"
#include "cutlass/conv/convnd_problem_shape.hpp"
#include "cutlass/conv/device/conv_universal_adapter.hpp"
#include "cutlass/conv/kernel/conv_universal.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"
#include "cutlass/numeric_types.h"

namespace convkernels {
namespace conv {
namespace sm90 {

template <DType D>
struct CutlassElement;
template <>
struct CutlassElement<DType::kFloat16> {
  using type = cutlass::half_t;
};
template <>
struct CutlassElement<DType::kBFloat16> {
  using type = cutlass::bfloat16_t;
};

// One tile for every shape keeps the build to one kernel per dtype. 128x128 output tile with a
// 64-deep (128-byte, fully swizzled) reduction step; cluster 1x1x1 because the conv mainloop's
// multicast needs cluster-divisible grids and CUTLASS's conv has no persistent schedule.
using TileShape = cute::Shape<cute::_128, cute::_128, cute::Shape<cute::_64>>;
using ClusterShape = cute::Shape<cute::_1, cute::_1, cute::_1>;

template <class Element>
struct Sm90ConvFprop {
  using Acc = float;
  static constexpr int kAlign = 128 / cutlass::sizeof_bits<Element>::value;
  static constexpr auto kRound = cutlass::FloatRoundStyle::round_to_nearest;

  // Epilogue visitor tree, evaluated per accumulator fragment in fp32:
  //   affine   = acc * scale[k] + shift[k]     (null scale/shift broadcast 1 and 0)
  //   residual = beta * C + affine             (beta == 0 skips C's TMA load at run time)
  //   out      = max(residual, lower_bound)    (0: ReLU; -inf: identity; NaN propagates)
  // Runtime choices rather than template ones: one instantiation covers every epilogue.
  using ChannelVector = cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, float, float>;
  using Affine = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::homogeneous_multiply_add, float, float, kRound>,
      cutlass::epilogue::fusion::Sm90AccFetch, ChannelVector, ChannelVector>;
  using PlusResidual = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::homogeneous_multiply_add, float, float, kRound>,
      cutlass::epilogue::fusion::Sm90ScalarBroadcast<float>, cutlass::epilogue::fusion::Sm90SrcFetch<Element>,
      Affine>;
  using Fusion = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::maximum_with_nan_propagation, Element, float, kRound>,
      PlusResidual, cutlass::epilogue::fusion::Sm90ScalarBroadcast<float>>;

  using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, Acc, float, Element, cutlass::layout::TensorNHWC, kAlign,
      Element, cutlass::layout::TensorNHWC, kAlign, cutlass::epilogue::TmaWarpSpecialized, Fusion>::CollectiveOp;

  using Mainloop = typename cutlass::conv::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, cutlass::conv::Operator::kFprop, Element,
      cutlass::layout::TensorNHWC, kAlign, Element, cutlass::layout::TensorNHWC, kAlign, Acc, TileShape,
      ClusterShape,
      cutlass::conv::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
      cutlass::conv::collective::KernelScheduleAuto>::CollectiveOp;

  using Kernel = cutlass::conv::kernel::ConvUniversal<Fprop2dShape, Mainloop, Epilogue>;
  using Device = cutlass::conv::device::ConvUniversalAdapter<Kernel>;
  using Arguments = typename Device::Arguments;
  using StrideD = typename Epilogue::StrideD;
};

template <DType D>
typename Sm90ConvFprop<typename CutlassElement<D>::type>::Arguments make_arguments(const Conv2dParams& p) {
  using Element = typename CutlassElement<D>::type;
  using Conv = Sm90ConvFprop<Element>;
  const Sm90ConvSetup s = make_sm90_conv_setup(p);
  typename Conv::StrideD d_out{};
  cute::get<0>(d_out) = cute::make_stride(s.stride_out_qpn[0], s.stride_out_qpn[1], s.stride_out_qpn[2]);
  const auto* out = static_cast<Element*>(p.output);
  // Without a residual, C points at the output: beta == 0 keeps the kernel from loading it, but
  // the TMA descriptor for C is still encoded on the host and needs a valid, aligned address.
  const auto* res = p.residual != nullptr ? static_cast<const Element*>(p.residual) : out;
  typename Conv::Arguments args{
      make_problem_shape(s),
      {static_cast<const Element*>(p.input), static_cast<const Element*>(p.weight)},
      {
          {                               // max(., lower_bound)
              {                           // beta * C + affine
                  {{s.beta}},             // beta
                  {},                     // C (the residual)
                  {                       // acc * scale + shift
                      {},                 // acc
                      {p.scale, 1.f, {}},  // scale[k], 1 when null
                      {p.shift, 0.f, {}},  // shift[k], 0 when null
                      {}},
                  {}},
              {{s.lower_bound}},
              {}},
          res,
          d_out,
          static_cast<Element*>(p.output),
          d_out,
      },
  };
  return args;
}

template <DType D>
size_t workspace_size(const Conv2dParams& p) {
  using Conv = Sm90ConvFprop<typename CutlassElement<D>::type>;
  if (!conv2d_sm90_supported(p, D)) return 0;
  return Conv::Device::get_workspace_size(make_arguments<D>(p));
}

template <DType D>
cudaError_t launch(const Conv2dParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  using Conv = Sm90ConvFprop<typename CutlassElement<D>::type>;
  if (!conv2d_sm90_supported(p, D)) return cudaErrorInvalidValue;
  const auto args = make_arguments<D>(p);
  if (Conv::Device::get_workspace_size(args) > workspace_bytes) return cudaErrorInvalidValue;
  // cudaErrorNotSupported: nothing was launched, the caller may run another kernel.
  if (Conv::Device::can_implement(args) != cutlass::Status::kSuccess) return cudaErrorNotSupported;
  typename Conv::Device op;
  // initialize() encodes the TMA descriptors (driver entry points fetched through the runtime,
  // so no -lcuda) and raises the kernel's dynamic shared-memory limit.
  if (op.initialize(args, workspace, stream) != cutlass::Status::kSuccess) {
    (void)cudaGetLastError();
    return cudaErrorNotSupported;
  }
  if (op.run(stream) != cutlass::Status::kSuccess) {
    const cudaError_t err = cudaGetLastError();
    return err != cudaSuccess ? err : cudaErrorLaunchFailure;
  }
  return cudaGetLastError();
}

}  // namespace sm90
}  // namespace conv
}  // namespace convkernels

// Defines the exported entry points for one element type (used once per .cu file).
#define CK_DEFINE_CONV2D_SM90(DTYPE)                                                                       \
  namespace convkernels {                                                                                 \
  template <>                                                                                             \
  size_t conv2d_sm90_workspace_size_typed<DTYPE>(const Conv2dParams& p) {                                \
    return conv::sm90::workspace_size<DTYPE>(p);                                                          \
  }                                                                                                       \
  template <>                                                                                             \
  cudaError_t launch_conv2d_sm90_typed<DTYPE>(const Conv2dParams& p, void* workspace, size_t workspace_bytes, \
                                              cudaStream_t stream) {                                      \
    return conv::sm90::launch<DTYPE>(p, workspace, workspace_bytes, stream);                              \
  }                                                                                                       \
  }
