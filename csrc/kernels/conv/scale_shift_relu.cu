// out = act(x * scale[c] + shift[c] + residual): the normalize step of training-mode BN.
// Vector path: input, output (and residual) share one dense NCHW or NHWC layout, 16-byte
// aligned, and a 16-byte vector never straddles channels (NCHW: H*W % V == 0, so one channel;
// NHWC: C % V == 0, so V consecutive channels). Strided path: anything else, element-wise.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/epilogue.cuh"
#include "common/index_math.h"
#include "common/launch.h"
#include "common/layout.h"
#include "conv/batch_norm.h"

namespace convkernels {
namespace batch_norm {

constexpr int kScaleShiftThreads = 256;
constexpr int64_t kInt32Limit = (int64_t(1) << 31) - 1;

// 16 bytes = kVec elements, converted to/from fp32.
template <typename T>
struct Vec16 {
  static constexpr int kVec = 16 / sizeof(T);
  static __device__ __forceinline__ void load(const T* ptr, float (&out)[kVec]) {
    const uint4 bits = *reinterpret_cast<const uint4*>(ptr);
    const uint32_t words[4] = {bits.x, bits.y, bits.z, bits.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = DTypeTraits<T>::unpack2(words[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  }
  static __device__ __forceinline__ void store(T* ptr, const float (&in)[kVec]) {
    uint4 bits;
    bits.x = DTypeTraits<T>::pack2(in[0], in[1]);
    bits.y = DTypeTraits<T>::pack2(in[2], in[3]);
    bits.z = DTypeTraits<T>::pack2(in[4], in[5]);
    bits.w = DTypeTraits<T>::pack2(in[6], in[7]);
    *reinterpret_cast<uint4*>(ptr) = bits;
  }
};

template <>
struct Vec16<float> {
  static constexpr int kVec = 4;
  static __device__ __forceinline__ void load(const float* ptr, float (&out)[4]) {
    const float4 v = *reinterpret_cast<const float4*>(ptr);
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
  }
  static __device__ __forceinline__ void store(float* ptr, const float (&in)[4]) {
    *reinterpret_cast<float4*>(ptr) = make_float4(in[0], in[1], in[2], in[3]);
  }
};

struct ScaleShiftArgs {
  const void* input;
  EpilogueOperands epilogue;  // scale/shift [C]; residual and output shaped like the input
  int C;
  int64_t count;  // vectors (vector path) or elements (strided path)
  // vector path: channel of vector v is (v / vecs_per_plane) % C for NCHW, (v % vecs_per_pixel)*V for NHWC
  FastDivmod div_vecs_per_plane;  // NCHW: H*W / V
  FastDivmod div_c;               // NCHW: C
  FastDivmod div_vecs_per_pixel;  // NHWC: C / V
  // strided path: element e in (n, c, h, w) or (n, h, w, c) order, logical dims below
  FastDivmod div_w, div_h;
  int64_t input_strides[4];
};

template <typename T, bool kChannelsLast>
__global__ void __launch_bounds__(kScaleShiftThreads) scale_shift_vector_kernel(const ScaleShiftArgs a) {
  using IO = Vec16<T>;
  constexpr int V = IO::kVec;
  const EpilogueOperands& ep = a.epilogue;
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const T* __restrict__ residual = static_cast<const T*>(ep.residual);
  T* __restrict__ output = static_cast<T*>(ep.output);
  const int64_t stride = int64_t(gridDim.x) * kScaleShiftThreads;
  for (int64_t vi = int64_t(blockIdx.x) * kScaleShiftThreads + threadIdx.x; vi < a.count; vi += stride) {
    const int v = static_cast<int>(vi);  // count < 2^31 (checked by the launcher)
    const int64_t offset = vi * V;
    float x[V];
    float r[V];
    IO::load(input + offset, x);
    if (residual != nullptr) {
      IO::load(residual + offset, r);
    } else {
#pragma unroll
      for (int i = 0; i < V; ++i) r[i] = 0.f;
    }
    if (kChannelsLast) {
      int pixel, vec_in_pixel;
      a.div_vecs_per_pixel.divmod(v, pixel, vec_in_pixel);
      const int c0 = vec_in_pixel * V;
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const ChannelAffine affine = ChannelAffine::load(ep, c0 + i);
        x[i] = finish_epilogue(affine.apply(x[i]), r[i], ep.relu);
      }
    } else {
      int plane, c, unused;
      a.div_vecs_per_plane.divmod(v, plane, unused);
      a.div_c.divmod(plane, unused, c);
      const ChannelAffine affine = ChannelAffine::load(ep, c);
#pragma unroll
      for (int i = 0; i < V; ++i) x[i] = finish_epilogue(affine.apply(x[i]), r[i], ep.relu);
    }
    IO::store(output + offset, x);
  }
}

template <typename T, bool kChannelsLast>
__global__ void __launch_bounds__(kScaleShiftThreads) scale_shift_strided_kernel(const ScaleShiftArgs a) {
  const EpilogueOperands& ep = a.epilogue;
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const T* __restrict__ residual = static_cast<const T*>(ep.residual);
  T* __restrict__ output = static_cast<T*>(ep.output);
  const int64_t stride = int64_t(gridDim.x) * kScaleShiftThreads;
  for (int64_t ei = int64_t(blockIdx.x) * kScaleShiftThreads + threadIdx.x; ei < a.count; ei += stride) {
    const int e = static_cast<int>(ei);  // count < 2^31 (checked by the launcher)
    // Walk in the input's memory order so that consecutive threads read neighbouring elements.
    int n, c, h, w, t;
    if (kChannelsLast) {
      a.div_c.divmod(e, t, c);
      a.div_w.divmod(t, t, w);
      a.div_h.divmod(t, n, h);
    } else {
      a.div_w.divmod(e, t, w);
      a.div_h.divmod(t, t, h);
      a.div_c.divmod(t, n, c);
    }
    const int64_t* is = a.input_strides;
    const int64_t* rs = ep.residual_strides;
    const int64_t* os = ep.output_strides;
    const float x = load_as_float(input + (n * is[0] + c * is[1] + h * is[2] + w * is[3]));
    const float r = residual != nullptr ? load_as_float(residual + (n * rs[0] + c * rs[1] + h * rs[2] + w * rs[3])) : 0.f;
    const ChannelAffine affine = ChannelAffine::load(ep, c);
    store_from_float(output + (n * os[0] + c * os[1] + h * os[2] + w * os[3]), finish_epilogue(affine.apply(x), r, ep.relu));
  }
}

#define CK_INSTANTIATE_SCALE_SHIFT(T)                                                         \
  template __global__ void scale_shift_vector_kernel<T, true>(const ScaleShiftArgs);         \
  template __global__ void scale_shift_vector_kernel<T, false>(const ScaleShiftArgs);        \
  template __global__ void scale_shift_strided_kernel<T, true>(const ScaleShiftArgs);        \
  template __global__ void scale_shift_strided_kernel<T, false>(const ScaleShiftArgs);
CK_INSTANTIATE_SCALE_SHIFT(float)
CK_INSTANTIATE_SCALE_SHIFT(__half)
CK_INSTANTIATE_SCALE_SHIFT(__nv_bfloat16)
#undef CK_INSTANTIATE_SCALE_SHIFT

enum class ScaleShiftPath { kVectorNchw, kVectorNhwc, kStrided };

ScaleShiftPath choose_path(const ScaleShiftParams& p, DType dtype) {
  const int64_t vec = 16 / dtype_size(dtype);
  const int64_t sizes[4] = {p.N, p.C, p.H, p.W};
  const bool shared_layout = same_strides(p.input_strides, p.output_strides) &&
                             (p.residual == nullptr || same_strides(p.input_strides, p.residual_strides));
  const bool aligned = pointer_aligned(p.input, 16) && pointer_aligned(p.output, 16) &&
                       (p.residual == nullptr || pointer_aligned(p.residual, 16));
  if (!shared_layout || !aligned) return ScaleShiftPath::kStrided;
  if (is_dense_layout(sizes, p.input_strides, kOrderNCHW) && (p.H * p.W) % vec == 0) return ScaleShiftPath::kVectorNchw;
  if (is_dense_layout(sizes, p.input_strides, kOrderNHWC) && p.C % vec == 0) return ScaleShiftPath::kVectorNhwc;
  return ScaleShiftPath::kStrided;
}

template <typename T>
cudaError_t launch_typed(const ScaleShiftArgs& a, ScaleShiftPath path, bool channels_last, cudaStream_t stream) {
  const int64_t wanted_blocks = ceil_div64(a.count, kScaleShiftThreads);
  const int64_t max_blocks = int64_t(current_device_sm_count()) * 16;  // grid-stride beyond a few waves
  const int blocks = static_cast<int>(wanted_blocks < max_blocks ? wanted_blocks : max_blocks);
  switch (path) {
    case ScaleShiftPath::kVectorNchw:
      scale_shift_vector_kernel<T, false><<<blocks, kScaleShiftThreads, 0, stream>>>(a);
      break;
    case ScaleShiftPath::kVectorNhwc:
      scale_shift_vector_kernel<T, true><<<blocks, kScaleShiftThreads, 0, stream>>>(a);
      break;
    case ScaleShiftPath::kStrided:
      if (channels_last) {
        scale_shift_strided_kernel<T, true><<<blocks, kScaleShiftThreads, 0, stream>>>(a);
      } else {
        scale_shift_strided_kernel<T, false><<<blocks, kScaleShiftThreads, 0, stream>>>(a);
      }
      break;
  }
  return launch_status();
}

}  // namespace batch_norm

const char* scale_shift_relu_limit_violation(const ScaleShiftParams& p, DType dtype) {
  using namespace batch_norm;
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0) return "negative size";
  if (p.C > kInt32Limit || p.H * p.W > kInt32Limit) return "C and H*W must be < 2^31";
  const int64_t numel = p.N * p.C * p.H * p.W;
  if (numel <= kInt32Limit) return "";
  // The vector path indexes 16-byte vectors with 32 bits, so it takes bigger tensors.
  if (choose_path(p, dtype) != ScaleShiftPath::kStrided && numel / (16 / dtype_size(dtype)) <= kInt32Limit) return "";
  return "tensors with 2^31 or more elements are only supported when input, output and residual share a dense, "
         "16-byte aligned NCHW or channels_last layout";
}

cudaError_t launch_scale_shift_relu(const ScaleShiftParams& p, DType dtype, cudaStream_t stream) {
  using namespace batch_norm;
  const int64_t numel = p.N * p.C * p.H * p.W;
  if (numel == 0) return cudaSuccess;
  const ScaleShiftPath path = choose_path(p, dtype);
  const int64_t vec = 16 / dtype_size(dtype);
  ScaleShiftArgs a;
  a.input = p.input;
  a.epilogue = make_epilogue_operands(p);
  a.C = static_cast<int>(p.C);
  a.count = path == ScaleShiftPath::kStrided ? numel : numel / vec;
  if (scale_shift_relu_limit_violation(p, dtype)[0] != '\0') return cudaErrorInvalidValue;
  a.div_vecs_per_plane = FastDivmod(static_cast<int>(path == ScaleShiftPath::kVectorNchw ? p.H * p.W / vec : 1));
  a.div_vecs_per_pixel = FastDivmod(static_cast<int>(path == ScaleShiftPath::kVectorNhwc ? p.C / vec : 1));
  a.div_c = FastDivmod(static_cast<int>(p.C));
  a.div_h = FastDivmod(static_cast<int>(p.H));
  a.div_w = FastDivmod(static_cast<int>(p.W));
  for (int d = 0; d < 4; ++d) a.input_strides[d] = p.input_strides[d];
  // Strided path: follow the input's memory order (channels innermost for channels_last-like).
  const bool channels_last = p.input_strides[1] == 1 && p.C > 1;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_typed<T>(a, path, channels_last, stream);
  });
}

}  // namespace convkernels
