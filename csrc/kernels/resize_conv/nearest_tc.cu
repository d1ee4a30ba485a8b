// Nearest resize-convolution: every output residue class (sub-pixel phase) of the upsampled grid
// is a low-resolution convolution with its phase-folded kernel (phase_plan.h). The classes of one
// call are described as plain conv problems (Conv2dParams-shaped: the class's first low-res row
// as a padding, its interleaved output rows as output strides, its slice of the folded weight),
// then:
//   * tensor cores: ONE launch for up to kMaxPhasesPerLaunch classes; blockIdx.z picks the class
//     and each CTA runs the direct conv tensor-core tile body (conv2d_implicit_gemm_tc_cta) on
//     it. The class descriptors travel as one __grid_constant__ kernel parameter (no copy to
//     local memory when a CTA indexes them by blockIdx.z).
//     fp32 runs TF32 math, or 3xTF32 (conv::TcElementFp32Split) with p.split_tf32.
//   * otherwise (C not a multiple of 16 bytes, non-NHWC input, fp32 without TF32 or 3xTF32,
//     pre-sm_80):
//     the SIMT direct conv kernel once per class, reading every tensor through its strides.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/launch.h"
#include "common/layout.h"
#include "conv/conv.h"
#include "conv/conv_shape_host.h"
#include "conv/implicit_gemm_tc.cuh"
#include "resize_conv/phase_plan.h"
#include "resize_conv/resize_conv.h"

#if defined(__CUDACC__)
#define CK_GRID_CONSTANT __grid_constant__
#else
#define CK_GRID_CONSTANT
#endif

namespace convkernels {
namespace resize_conv {

constexpr int kMaxPhasesPerLaunch = 16;  // scale 4 at stride 1: 4 x 4 classes, one launch

struct PhaseBatch {
  conv::TcKernelArgs phase[kMaxPhasesPerLaunch];
};

using conv::TcTileConfig;
using NearestLarge = TcTileConfig<128, 128, 4, 2>;
using NearestMedium = TcTileConfig<128, 64, 4, 2>;
using NearestSmall = TcTileConfig<64, 64, 4, 4>;

template <typename T, typename Cfg, typename Element = conv::TcElement<T>>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    resize_nearest_tc_kernel(const CK_GRID_CONSTANT PhaseBatch batch) {
  const conv::TcKernelArgs& args = batch.phase[blockIdx.z];
  const int block_m = blockIdx.x * Cfg::BM;
  // The grid is sized for the largest class; the others have up to L-1 fewer rows/columns.
  if (block_m >= args.shape.M) return;
  const conv::NhwcGatherA<T> load_a{static_cast<const T*>(args.input)};
  conv::conv2d_implicit_gemm_tc_cta<T, Cfg, Element>(args, load_a, block_m, blockIdx.y * Cfg::BN);
}

#define CK_INSTANTIATE_NEAREST(T, CFG) \
  template __global__ void resize_nearest_tc_kernel<T, CFG>(const CK_GRID_CONSTANT PhaseBatch);
CK_INSTANTIATE_NEAREST(__half, NearestLarge)
CK_INSTANTIATE_NEAREST(__half, NearestMedium)
CK_INSTANTIATE_NEAREST(__half, NearestSmall)
CK_INSTANTIATE_NEAREST(__nv_bfloat16, NearestLarge)
CK_INSTANTIATE_NEAREST(__nv_bfloat16, NearestMedium)
CK_INSTANTIATE_NEAREST(__nv_bfloat16, NearestSmall)
CK_INSTANTIATE_NEAREST(float, NearestLarge)  // TF32
CK_INSTANTIATE_NEAREST(float, NearestMedium)
CK_INSTANTIATE_NEAREST(float, NearestSmall)
#undef CK_INSTANTIATE_NEAREST
#define CK_INSTANTIATE_NEAREST_SPLIT(CFG) \
  template __global__ void resize_nearest_tc_kernel<float, CFG, conv::TcElementFp32Split>(const CK_GRID_CONSTANT PhaseBatch);
CK_INSTANTIATE_NEAREST_SPLIT(NearestLarge)  // 3xTF32
CK_INSTANTIATE_NEAREST_SPLIT(NearestMedium)
CK_INSTANTIATE_NEAREST_SPLIT(NearestSmall)
#undef CK_INSTANTIATE_NEAREST_SPLIT

namespace {

constexpr int64_t kInt32Limit = (int64_t(1) << 31) - 1;
constexpr int64_t kSpatialLimit = int64_t(1) << 29;

const unsigned char* byte_offset(const void* base, int64_t elements, int elem_size) {
  return static_cast<const unsigned char*>(base) + elements * elem_size;
}

// Class (a, b) as a convolution over the low-res input. pad may be negative (the class starts
// inside the input): the tensor-core row math handles that; the SIMT path normalizes it.
Conv2dParams class_problem(const ResizeConvParams& p, const PhaseAxis& ah, const PhaseAxis& aw, int a, int b,
                           int elem_size) {
  Conv2dParams c;
  const int64_t* ws = p.weight_strides;
  const int64_t* os = p.output_strides;
  c.input = p.input;
  c.weight = byte_offset(p.weight, a * ws[0] + b * ws[1], elem_size);
  c.scale = p.scale;
  c.shift = p.shift;
  c.output = const_cast<unsigned char*>(byte_offset(p.output, a * os[2] + b * os[3], elem_size));
  c.N = p.N, c.C = p.C, c.H = p.H, c.W = p.W, c.K = p.K;
  c.R = ah.taps, c.S = aw.taps;
  c.P = class_outputs(p.P, a, ah.classes);
  c.Q = class_outputs(p.Q, b, aw.classes);
  c.stride_h = ah.low_stride, c.stride_w = aw.low_stride;
  c.pad_h = -ah.first_row[a], c.pad_w = -aw.first_row[b];
  for (int d = 0; d < 4; ++d) c.input_strides[d] = p.input_strides[d];
  for (int d = 0; d < 4; ++d) c.weight_strides[d] = ws[2 + d];
  c.output_strides[0] = os[0];
  c.output_strides[1] = os[1];
  c.output_strides[2] = os[2] * ah.classes;
  c.output_strides[3] = os[3] * aw.classes;
  c.relu = p.relu;
  return c;
}

// The SIMT kernel takes non-negative padding only. A class whose first row lies inside the input
// starts the input there instead; one that lies past the end (possible only when the padding
// exceeds the kernel) reads nothing but zeros, which a padding beyond every tap expresses.
void normalize_negative_padding(Conv2dParams& c, int elem_size) {
  auto fix = [&](int64_t& pad, int64_t& extent, int64_t stride_elems, int64_t out, int64_t conv_stride,
                 int64_t taps) {
    if (pad >= 0) return;
    const int64_t skip = -pad;
    if (skip < extent) {
      c.input = byte_offset(c.input, skip * stride_elems, elem_size);
      extent -= skip;
      pad = 0;
    } else {
      pad = out * conv_stride + taps;
    }
  };
  fix(c.pad_h, c.H, c.input_strides[2], c.P, c.stride_h, c.R);
  fix(c.pad_w, c.W, c.input_strides[3], c.Q, c.stride_w, c.S);
}

bool tensor_cores_usable(const ResizeConvParams& p, const PhaseAxis& ah, const PhaseAxis& aw, DType dtype) {
  const int chunk = conv::tc::chunk_elems(dtype_size(dtype));
  if (p.C % chunk != 0 || current_device_compute_major() < 8) return false;
  if (!pointer_aligned(p.input, 16) || !pointer_aligned(p.weight, 16)) return false;
  const int64_t input_sizes[4] = {p.N, p.C, p.H, p.W};
  if (!is_dense_layout(input_sizes, p.input_strides, kOrderNHWC)) return false;
  // Folded weight dense as [Lh, Lw, K, Th, Tw, C]: each class a dense KRSC block.
  const int64_t* ws = p.weight_strides;
  const int64_t krsc = p.K * ah.taps * aw.taps * p.C;
  return ws[3] == 1 && ws[5] == p.C && ws[4] == aw.taps * p.C && ws[2] == ah.taps * aw.taps * p.C &&
         ws[1] == krsc && ws[0] == aw.classes * krsc;
}

conv::TcKernelArgs tc_args(const Conv2dParams& c, DType dtype) {
  conv::TcKernelArgs args;
  args.input = c.input;
  args.weight = c.weight;
  args.shape = conv::make_conv_shape(c);
  args.epilogue = make_epilogue_operands(c);
  // Channels-contiguous output (channels_last): 4-channel stores at each interleaved pixel.
  const int64_t* os = c.output_strides;
  args.vector_epilogue = c.K % 4 == 0 && os[1] == 1 && pointer_aligned(c.output, 4 * dtype_size(dtype)) &&
                         os[0] % 4 == 0 && os[2] % 4 == 0 && os[3] % 4 == 0;
  return args;
}

template <typename T, typename Cfg, typename Element>
cudaError_t launch_batch(const PhaseBatch& batch, int count, int max_m, int K, cudaStream_t stream) {
  auto kernel = resize_nearest_tc_kernel<T, Cfg, Element>;
  if (Cfg::kSmemBytes > 48 * 1024) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(ceil_div(max_m, Cfg::BM), ceil_div(K, Cfg::BN), count);
  kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes, stream>>>(batch);
  return launch_status();
}

// Same rule as the direct conv's: the largest tile that still gives every SM a CTA, counted over
// all classes of the launch (3xTF32 too: three times the mma work per tile, same best tile).
template <typename T, typename Element = conv::TcElement<T>>
cudaError_t dispatch_batch(const PhaseBatch& batch, int count, int max_m, int total_m, int K, cudaStream_t stream) {
  const int sms = current_device_sm_count();
  const int64_t large = int64_t(ceil_div(total_m, 128)) * ceil_div(K, 128);
  const int64_t medium = int64_t(ceil_div(total_m, 128)) * ceil_div(K, 64);
  if (K > 64 && large >= sms) return launch_batch<T, NearestLarge, Element>(batch, count, max_m, K, stream);
  if (medium >= sms) return launch_batch<T, NearestMedium, Element>(batch, count, max_m, K, stream);
  return launch_batch<T, NearestSmall, Element>(batch, count, max_m, K, stream);
}

cudaError_t launch_tensor_cores(const ResizeConvParams& p, const PhaseAxis& ah, const PhaseAxis& aw, DType dtype,
                                cudaStream_t stream) {
  const int elem = dtype_size(dtype);
  PhaseBatch batch;
  int count = 0, max_m = 0, total_m = 0;
  auto flush = [&]() -> cudaError_t {
    if (count == 0) return cudaSuccess;
    const cudaError_t err = [&]() {
      if (dtype == DType::kFloat32 && p.split_tf32)
        return dispatch_batch<float, conv::TcElementFp32Split>(batch, count, max_m, total_m, int(p.K), stream);
      return dispatch_float_types(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return dispatch_batch<T>(batch, count, max_m, total_m, int(p.K), stream);
      });
    }();
    count = max_m = total_m = 0;
    return err;
  };
  for (int a = 0; a < ah.classes; ++a) {
    for (int b = 0; b < aw.classes; ++b) {
      const Conv2dParams c = class_problem(p, ah, aw, a, b, elem);
      if (c.P == 0 || c.Q == 0) continue;
      batch.phase[count] = tc_args(c, dtype);
      const int m = batch.phase[count].shape.M;
      max_m = m > max_m ? m : max_m;
      total_m += m;
      if (++count == kMaxPhasesPerLaunch) {
        const cudaError_t err = flush();
        if (err != cudaSuccess) return err;
      }
    }
  }
  return flush();
}

}  // namespace
}  // namespace resize_conv

const char* resize_conv_index_limit_violation(const ResizeConvParams& p) {
  using resize_conv::kInt32Limit;
  using resize_conv::kSpatialLimit;
  const int64_t extents[] = {p.N, p.C, p.H, p.W, p.K, p.R, p.S, p.P, p.Q, p.scale_factor,
                             p.stride_h, p.stride_w, p.pad_h, p.pad_w};
  for (int64_t e : extents) {
    if (e < 0 || e > kInt32Limit) return "a size, stride, padding or scale does not fit in 32 bits";
  }
  if (p.N * p.P * p.Q > kInt32Limit) return "N*P*Q (output pixels) must be < 2^31; split the batch";
  if (p.C * p.R * p.S > kInt32Limit) return "C*R*S (reduction length) must be < 2^31";
  if (p.N * p.H > kInt32Limit) return "N*H must be < 2^31; split the batch";
  if (p.K > int64_t(65535) * 64) return "K (output channels) must be <= 4194240";
  if (p.P * p.stride_h + p.pad_h + p.R >= kSpatialLimit || p.Q * p.stride_w + p.pad_w + p.S >= kSpatialLimit ||
      p.H * p.scale_factor >= kSpatialLimit || p.W * p.scale_factor >= kSpatialLimit) {
    return "spatial extents (scale*H, P*stride + pad + kernel) must be < 2^29";
  }
  if (p.scale_factor / resize_conv::gcd64(p.scale_factor, p.stride_h) > resize_conv::kMaxClassesPerAxis ||
      p.scale_factor / resize_conv::gcd64(p.scale_factor, p.stride_w) > resize_conv::kMaxClassesPerAxis) {
    return "scale_factor / gcd(scale_factor, stride) must be <= 64";
  }
  return "";
}

cudaError_t launch_resize_nearest_conv2d(const ResizeConvParams& p, DType dtype, bool allow_tensor_cores,
                                         cudaStream_t stream) {
  using namespace resize_conv;
  if (resize_conv_index_limit_violation(p)[0] != '\0' || p.scale_factor < 1) return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q == 0 || p.K == 0) return cudaSuccess;
  PhaseAxis ah, aw;
  if (!make_phase_axis(p.scale_factor, p.R, p.pad_h, p.stride_h, &ah) ||
      !make_phase_axis(p.scale_factor, p.S, p.pad_w, p.stride_w, &aw)) {
    return cudaErrorInvalidValue;
  }
  const bool tensor_cores = allow_tensor_cores || (dtype == DType::kFloat32 && p.split_tf32);
  if (tensor_cores && tensor_cores_usable(p, ah, aw, dtype)) return launch_tensor_cores(p, ah, aw, dtype, stream);
  const int elem = dtype_size(dtype);
  for (int a = 0; a < ah.classes; ++a) {
    for (int b = 0; b < aw.classes; ++b) {
      Conv2dParams c = class_problem(p, ah, aw, a, b, elem);
      if (c.P == 0 || c.Q == 0) continue;
      normalize_negative_padding(c, elem);
      const cudaError_t err = launch_conv2d_implicit_gemm_generic(c, dtype, stream);
      if (err != cudaSuccess) return err;
    }
  }
  return cudaSuccess;
}

}  // namespace convkernels
