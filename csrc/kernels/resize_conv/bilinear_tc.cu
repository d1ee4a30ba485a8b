// Bilinear resize-convolution on tensor cores: the direct conv's tensor-core tile body over the
// upsampled grid (M = N*P*Q, reduction (r, s, c) over the high-res taps), with an A-operand
// loader that builds each 16-byte chunk (8 fp16/bf16 or 4 fp32 channels of one tap) in registers
// from the four low-res neighbours — four 16-byte loads, aten's interpolation in fp32, rounding
// to the dtype as F.interpolate's output would be — and stores it into the swizzled stage with
// st.shared. B (the KRSC weight) still streams through the cp.async ring. The stores are
// synchronous; the ring's barrier at the top of each iteration both frees the slot being
// refilled and publishes it before it is consumed, exactly as for the asynchronous copies.
// fp32 runs TF32 math, or 3xTF32 (conv::TcElementFp32Split) with p.split_tf32.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "common/layout.h"
#include "conv/conv_shape_host.h"
#include "conv/implicit_gemm_tc.cuh"
#include "resize_conv/bilinear_source.cuh"
#include "resize_conv/resize_conv.h"

namespace convkernels {
namespace resize_conv {

// One 32-bit word of a chunk: 2 fp16/bf16 values or 1 fp32 value, interpolated.
template <typename T>
struct ChunkWord {
  static __device__ __forceinline__ uint32_t lerp(uint32_t a, uint32_t b, uint32_t c, uint32_t d, const Linear1d& lh,
                                                  const Linear1d& lw) {
    using Traits = DTypeTraits<T>;
    const float2 x00 = Traits::unpack2(a), x01 = Traits::unpack2(b), x10 = Traits::unpack2(c),
                 x11 = Traits::unpack2(d);
    const float lo = lh.l0 * (lw.l0 * x00.x + lw.l1 * x01.x) + lh.l1 * (lw.l0 * x10.x + lw.l1 * x11.x);
    const float hi = lh.l0 * (lw.l0 * x00.y + lw.l1 * x01.y) + lh.l1 * (lw.l0 * x10.y + lw.l1 * x11.y);
    return Traits::pack2(lo, hi);
  }
};
template <>
struct ChunkWord<float> {
  static __device__ __forceinline__ float as_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  static __device__ __forceinline__ uint32_t lerp(uint32_t a, uint32_t b, uint32_t c, uint32_t d, const Linear1d& lh,
                                                  const Linear1d& lw) {
    const float v = lh.l0 * (lw.l0 * as_float(a) + lw.l1 * as_float(b)) + lh.l1 * (lw.l0 * as_float(c) + lw.l1 * as_float(d));
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return bits;
  }
};

// A loader for conv2d_implicit_gemm_tc_cta: the ConvShape is the high-res conv's (H, W are the
// upsampled sizes); the input is the low-res dense NHWC image.
template <typename T>
struct BilinearGatherA {
  const T* input;
  int H, W;            // low-res sizes
  float ratio_h, ratio_w;
  bool align_corners;
  FastDivmod div_hu;   // row geometry holds n * HU; this recovers n

  __device__ __forceinline__ void operator()(const conv::ConvShape& s, const conv::RowGeometry& g,
                                             const conv::RscCursor& k, uint32_t smem_addr) const {
    const int hy = g.h0 + k.r;
    const int wx = g.w0 + k.s;
    uint4 chunk{0u, 0u, 0u, 0u};
    if (k.r < s.R && static_cast<unsigned>(hy) < static_cast<unsigned>(s.H) &&
        static_cast<unsigned>(wx) < static_cast<unsigned>(s.W)) {
      const Linear1d lh = linear_source(hy, H, ratio_h, align_corners);
      const Linear1d lw = linear_source(wx, W, ratio_w, align_corners);
      const int n = div_hu.div(g.nh);
      const int64_t p00 = (static_cast<int64_t>(n * H + lh.i0) * W + lw.i0) * s.C + k.c;
      const int64_t dw = static_cast<int64_t>(lw.step) * s.C;
      const int64_t dh = static_cast<int64_t>(lh.step) * W * s.C;
      const uint4 a = *reinterpret_cast<const uint4*>(input + p00);
      const uint4 b = *reinterpret_cast<const uint4*>(input + p00 + dw);
      const uint4 c = *reinterpret_cast<const uint4*>(input + p00 + dh);
      const uint4 d = *reinterpret_cast<const uint4*>(input + p00 + dh + dw);
      chunk.x = ChunkWord<T>::lerp(a.x, b.x, c.x, d.x, lh, lw);
      chunk.y = ChunkWord<T>::lerp(a.y, b.y, c.y, d.y, lh, lw);
      chunk.z = ChunkWord<T>::lerp(a.z, b.z, c.z, d.z, lh, lw);
      chunk.w = ChunkWord<T>::lerp(a.w, b.w, c.w, d.w, lh, lw);
    }
    st_shared_16(smem_addr, chunk);
  }
};

using conv::TcTileConfig;
using BilinearLarge = TcTileConfig<128, 128, 4, 2>;
using BilinearMedium = TcTileConfig<128, 64, 4, 2>;
using BilinearSmall = TcTileConfig<64, 64, 4, 4>;

template <typename T, typename Cfg, typename Element = conv::TcElement<T>>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    resize_bilinear_tc_kernel(const conv::TcKernelArgs args, const BilinearGatherA<T> load_a) {
  conv::conv2d_implicit_gemm_tc_cta<T, Cfg, Element>(args, load_a, blockIdx.x * Cfg::BM, blockIdx.y * Cfg::BN);
}

#define CK_INSTANTIATE_BILINEAR(T, CFG)                                                            \
  template __global__ void resize_bilinear_tc_kernel<T, CFG>(const conv::TcKernelArgs, \
                                                              const BilinearGatherA<T>);
CK_INSTANTIATE_BILINEAR(__half, BilinearLarge)
CK_INSTANTIATE_BILINEAR(__half, BilinearMedium)
CK_INSTANTIATE_BILINEAR(__half, BilinearSmall)
CK_INSTANTIATE_BILINEAR(__nv_bfloat16, BilinearLarge)
CK_INSTANTIATE_BILINEAR(__nv_bfloat16, BilinearMedium)
CK_INSTANTIATE_BILINEAR(__nv_bfloat16, BilinearSmall)
CK_INSTANTIATE_BILINEAR(float, BilinearLarge)  // TF32
CK_INSTANTIATE_BILINEAR(float, BilinearMedium)
CK_INSTANTIATE_BILINEAR(float, BilinearSmall)
#undef CK_INSTANTIATE_BILINEAR
#define CK_INSTANTIATE_BILINEAR_SPLIT(CFG)                                                      \
  template __global__ void resize_bilinear_tc_kernel<float, CFG, conv::TcElementFp32Split>( \
      const conv::TcKernelArgs, const BilinearGatherA<float>);
CK_INSTANTIATE_BILINEAR_SPLIT(BilinearLarge)  // 3xTF32
CK_INSTANTIATE_BILINEAR_SPLIT(BilinearMedium)
CK_INSTANTIATE_BILINEAR_SPLIT(BilinearSmall)
#undef CK_INSTANTIATE_BILINEAR_SPLIT

namespace {

template <typename T, typename Cfg, typename Element>
cudaError_t launch_tile(const conv::TcKernelArgs& args, const BilinearGatherA<T>& load_a, cudaStream_t stream) {
  auto kernel = resize_bilinear_tc_kernel<T, Cfg, Element>;
  if (Cfg::kSmemBytes > 48 * 1024) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(ceil_div(args.shape.M, Cfg::BM), ceil_div(args.shape.K, Cfg::BN));
  kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes, stream>>>(args, load_a);
  return launch_status();
}

template <typename T, typename Element = conv::TcElement<T>>
cudaError_t dispatch(const conv::TcKernelArgs& args, const ResizeConvParams& p, cudaStream_t stream) {
  BilinearGatherA<T> load_a;
  load_a.input = static_cast<const T*>(p.input);
  load_a.H = int(p.H);
  load_a.W = int(p.W);
  load_a.ratio_h = source_ratio(p.H, p.H * p.scale_factor, p.scale_factor, p.align_corners);
  load_a.ratio_w = source_ratio(p.W, p.W * p.scale_factor, p.scale_factor, p.align_corners);
  load_a.align_corners = p.align_corners;
  load_a.div_hu = FastDivmod(int(p.H * p.scale_factor));
  // the direct conv's tile rule: the largest tile that still gives every SM a CTA.
  const int sms = current_device_sm_count();
  const int M = args.shape.M, K = args.shape.K;
  const int64_t large = int64_t(ceil_div(M, 128)) * ceil_div(K, 128);
  const int64_t medium = int64_t(ceil_div(M, 128)) * ceil_div(K, 64);
  if (K > 64 && large >= sms) return launch_tile<T, BilinearLarge, Element>(args, load_a, stream);
  if (medium >= sms) return launch_tile<T, BilinearMedium, Element>(args, load_a, stream);
  return launch_tile<T, BilinearSmall, Element>(args, load_a, stream);
}

}  // namespace
}  // namespace resize_conv

bool resize_bilinear_tc_supported(const ResizeConvParams& p, DType dtype) {
  const int chunk = conv::tc::chunk_elems(dtype_size(dtype));
  if (p.C <= 0 || p.C % chunk != 0 || current_device_compute_major() < 8) return false;
  if (resize_conv_index_limit_violation(p)[0] != '\0') return false;
  if (!pointer_aligned(p.input, 16) || !pointer_aligned(p.weight, 16)) return false;
  const int64_t input_sizes[4] = {p.N, p.C, p.H, p.W};
  const int64_t weight_sizes[4] = {p.K, p.C, p.R, p.S};
  return is_dense_layout(input_sizes, p.input_strides, kOrderNHWC) &&
         is_dense_layout(weight_sizes, p.weight_strides, kOrderNHWC);
}

cudaError_t launch_resize_bilinear_tc(const ResizeConvParams& p, DType dtype, cudaStream_t stream) {
  using namespace resize_conv;
  if (!resize_bilinear_tc_supported(p, dtype)) return cudaErrorInvalidValue;
  if (p.N * p.P * p.Q == 0 || p.K == 0) return cudaSuccess;
  // The high-res convolution as the direct conv sees it: the loader maps its taps to low-res pixels.
  Conv2dParams c;
  c.input = p.input;
  c.weight = p.weight;
  c.scale = p.scale;
  c.shift = p.shift;
  c.output = p.output;
  c.N = p.N, c.C = p.C, c.H = p.H * p.scale_factor, c.W = p.W * p.scale_factor, c.K = p.K;
  c.R = p.R, c.S = p.S, c.P = p.P, c.Q = p.Q;
  c.stride_h = p.stride_h, c.stride_w = p.stride_w, c.pad_h = p.pad_h, c.pad_w = p.pad_w;
  for (int d = 0; d < 4; ++d) c.output_strides[d] = p.output_strides[d];
  c.relu = p.relu;
  conv::TcKernelArgs args;
  args.input = p.input;
  args.weight = p.weight;
  args.shape = conv::make_conv_shape(c);
  args.epilogue = make_epilogue_operands(c);
  const int64_t* os = c.output_strides;
  args.vector_epilogue = c.K % 4 == 0 && os[1] == 1 && pointer_aligned(c.output, 4 * dtype_size(dtype)) &&
                         os[0] % 4 == 0 && os[2] % 4 == 0 && os[3] % 4 == 0;
  if (dtype == DType::kFloat32 && p.split_tf32) return dispatch<float, conv::TcElementFp32Split>(args, p, stream);
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch<T>(args, p, stream);
  });
}

}  // namespace convkernels
