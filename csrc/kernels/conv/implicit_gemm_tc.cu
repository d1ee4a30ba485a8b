// Instantiations and host launcher of the tensor-core conv kernel (implicit_gemm_tc.cuh).
#include "conv/implicit_gemm_tc.cuh"

#include <cuda_runtime.h>

#include "common/dtype_dispatch.cuh"
#include "common/launch.h"
#include "common/layout.h"
#include "conv/conv.h"
#include "conv/conv_shape_host.h"

namespace convkernels {
namespace conv {

// 128x128: 64x64 warp tiles (128 fp32 accumulators per thread), for large M and K.
using TcLarge = TcTileConfig<128, 128, 4, 2>;
// 128x64: for K <= 64 or when 128x128 tiles would leave SMs idle.
using TcMedium = TcTileConfig<128, 64, 4, 2>;
// 64x64: small M*K (late layers with 7x7 maps, tiny batches): more CTAs to fill the GPU.
using TcSmall = TcTileConfig<64, 64, 4, 4>;

#define CK_INSTANTIATE_TC(T, CFG) \
  template __global__ void conv2d_implicit_gemm_tc_kernel<T, CFG>(const TcKernelArgs);
#define CK_INSTANTIATE_TC_SPLIT(CFG) \
  template __global__ void conv2d_implicit_gemm_tc_kernel<float, CFG, TcElementFp32Split>(const TcKernelArgs);
CK_INSTANTIATE_TC(__half, TcLarge)
CK_INSTANTIATE_TC(__half, TcMedium)
CK_INSTANTIATE_TC(__half, TcSmall)
CK_INSTANTIATE_TC(__nv_bfloat16, TcLarge)
CK_INSTANTIATE_TC(__nv_bfloat16, TcMedium)
CK_INSTANTIATE_TC(__nv_bfloat16, TcSmall)
CK_INSTANTIATE_TC(float, TcLarge)  // TF32
CK_INSTANTIATE_TC(float, TcMedium)
CK_INSTANTIATE_TC(float, TcSmall)
CK_INSTANTIATE_TC_SPLIT(TcLarge)  // 3xTF32
CK_INSTANTIATE_TC_SPLIT(TcMedium)
CK_INSTANTIATE_TC_SPLIT(TcSmall)
#undef CK_INSTANTIATE_TC
#undef CK_INSTANTIATE_TC_SPLIT

namespace {

bool dense_nhwc_output_like(const int64_t* strides, const Conv2dParams& p) {
  const int64_t sizes[4] = {p.N, p.K, p.P, p.Q};
  return is_dense_layout(sizes, strides, kOrderNHWC);
}

template <typename T, typename Cfg, typename Element>
cudaError_t launch_tc(const TcKernelArgs& args, cudaStream_t stream) {
  auto kernel = conv2d_implicit_gemm_tc_kernel<T, Cfg, Element>;
  if (Cfg::kSmemBytes > 48 * 1024) {
    // Opt-in above the 48 KB default; cheap, and per-device so it cannot be cached globally.
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(ceil_div(args.shape.M, Cfg::BM), ceil_div(args.shape.K, Cfg::BN));
  kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes, stream>>>(args);
  return launch_status();
}

enum class TcTile { kLarge, kMedium, kSmall };

// Largest tile that still gives every SM at least one CTA; narrow tiles when K is small.
TcTile choose_tile(int M, int K) {
  const int sms = current_device_sm_count();
  const int64_t large_ctas = int64_t(ceil_div(M, 128)) * ceil_div(K, 128);
  const int64_t medium_ctas = int64_t(ceil_div(M, 128)) * ceil_div(K, 64);
  if (K > 64 && large_ctas >= sms) return TcTile::kLarge;
  if (medium_ctas >= sms) return TcTile::kMedium;
  return TcTile::kSmall;
}

// The element policy picks the instruction (fp32 data -> TF32 or 3xTF32 math); the tile rule
// is the same. 3xTF32 does three times the mma work per tile, but the tile that fills the GPU
// best is still the one to pick.
template <typename T, typename Element = TcElement<T>>
cudaError_t dispatch_tile(const TcKernelArgs& args, cudaStream_t stream) {
  switch (choose_tile(args.shape.M, args.shape.K)) {
    case TcTile::kLarge:
      return launch_tc<T, TcLarge, Element>(args, stream);
    case TcTile::kMedium:
      return launch_tc<T, TcMedium, Element>(args, stream);
    default:
      return launch_tc<T, TcSmall, Element>(args, stream);
  }
}

}  // namespace
}  // namespace conv

bool conv2d_tc_supported(const Conv2dParams& p, DType dtype) {
  // A 16-byte chunk of the reduction must not straddle two (r, s) taps: C % 8 (16-bit), C % 4 (fp32).
  const int chunk_elems = conv::tc::chunk_elems(dtype_size(dtype));
  if (p.C <= 0 || p.C % chunk_elems != 0) return false;
  if (conv::index_limit_violation(p)[0] != '\0') return false;
  if (p.input == nullptr || p.weight == nullptr || !pointer_aligned(p.input, 16) || !pointer_aligned(p.weight, 16)) {
    return false;
  }
  const int64_t input_sizes[4] = {p.N, p.C, p.H, p.W};
  const int64_t weight_sizes[4] = {p.K, p.C, p.R, p.S};
  // KRSC is the NHWC order of the [K, C, R, S] weight.
  if (!is_dense_layout(input_sizes, p.input_strides, kOrderNHWC) ||
      !is_dense_layout(weight_sizes, p.weight_strides, kOrderNHWC)) {
    return false;
  }
  return current_device_compute_major() >= 8;
}

cudaError_t launch_conv2d_implicit_gemm_tc(const Conv2dParams& p, DType dtype, cudaStream_t stream,
                                           bool split_tf32) {
  using namespace conv;
  if (!conv2d_tc_supported(p, dtype)) return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q == 0 || p.K == 0) return cudaSuccess;
  TcKernelArgs args;
  args.input = p.input;
  args.weight = p.weight;
  args.shape = make_conv_shape(p);
  args.epilogue = make_epilogue_operands(p);
  const uintptr_t vec_bytes = 4 * dtype_size(dtype);  // 4 channels per access
  args.vector_epilogue = p.K % 4 == 0 && pointer_aligned(p.output, vec_bytes) &&
                         dense_nhwc_output_like(p.output_strides, p) &&
                         (p.residual == nullptr || (pointer_aligned(p.residual, vec_bytes) &&
                                                    dense_nhwc_output_like(p.residual_strides, p)));
  if (dtype == DType::kFloat32 && split_tf32) return dispatch_tile<float, TcElementFp32Split>(args, stream);
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_tile<T>(args, stream);
  });
}

}  // namespace convkernels
