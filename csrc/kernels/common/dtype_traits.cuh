// Conversions between the storage types and the fp32 used for all arithmetic. Only intrinsics
// are used (no operator overloads), so the code also compiles with torch's
// __CUDA_NO_HALF_OPERATORS__ / __CUDA_NO_HALF_CONVERSIONS__ / __CUDA_NO_BFLOAT16_CONVERSIONS__.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace convkernels {

template <typename T>
struct DTypeTraits;

template <>
struct DTypeTraits<float> {
  static __device__ __forceinline__ float to_float(float x) { return x; }
  static __device__ __forceinline__ float from_float(float x) { return x; }
};

template <>
struct DTypeTraits<__half> {
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
  // Two floats -> one 32-bit word holding two halves (low half = first), round-to-nearest.
  static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
  static __device__ __forceinline__ float2 unpack2(uint32_t bits) {
    return __half22float2(*reinterpret_cast<const __half2*>(&bits));
  }
};

template <>
struct DTypeTraits<__nv_bfloat16> {
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
  static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
  static __device__ __forceinline__ float2 unpack2(uint32_t bits) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&bits));
  }
};

// Four consecutive elements <-> four floats in one access: 8 bytes (uint2) for the 16-bit types,
// 16 bytes (float4) for float; `ptr` must be aligned to that size.
template <typename T>
__device__ __forceinline__ void load4_as_float(const T* ptr, float (&out)[4]) {
  if constexpr (sizeof(T) == 4) {
    const float4 v = *reinterpret_cast<const float4*>(ptr);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  } else {
    const uint2 bits = *reinterpret_cast<const uint2*>(ptr);
    const float2 lo = DTypeTraits<T>::unpack2(bits.x);
    const float2 hi = DTypeTraits<T>::unpack2(bits.y);
    out[0] = lo.x, out[1] = lo.y, out[2] = hi.x, out[3] = hi.y;
  }
}

template <typename T>
__device__ __forceinline__ void store4_from_float(T* ptr, const float (&in)[4]) {
  if constexpr (sizeof(T) == 4) {
    *reinterpret_cast<float4*>(ptr) = make_float4(in[0], in[1], in[2], in[3]);
  } else {
    uint2 bits;
    bits.x = DTypeTraits<T>::pack2(in[0], in[1]);
    bits.y = DTypeTraits<T>::pack2(in[2], in[3]);
    *reinterpret_cast<uint2*>(ptr) = bits;
  }
}

// Eight consecutive 16-bit elements <-> eight floats in one 16-byte access (uint4); `ptr` must
// be 16-byte aligned.
template <typename T>
__device__ __forceinline__ void load8_as_float(const T* ptr, float (&out)[8]) {
  static_assert(sizeof(T) == 2, "eight elements in 16 bytes: fp16 / bf16 only");
  const uint4 bits = *reinterpret_cast<const uint4*>(ptr);
  const uint32_t words[4] = {bits.x, bits.y, bits.z, bits.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 pair = DTypeTraits<T>::unpack2(words[i]);
    out[2 * i] = pair.x, out[2 * i + 1] = pair.y;
  }
}

template <typename T>
__device__ __forceinline__ void store8_from_float(T* ptr, const float (&in)[8]) {
  static_assert(sizeof(T) == 2, "eight elements in 16 bytes: fp16 / bf16 only");
  uint4 bits;
  bits.x = DTypeTraits<T>::pack2(in[0], in[1]);
  bits.y = DTypeTraits<T>::pack2(in[2], in[3]);
  bits.z = DTypeTraits<T>::pack2(in[4], in[5]);
  bits.w = DTypeTraits<T>::pack2(in[6], in[7]);
  *reinterpret_cast<uint4*>(ptr) = bits;
}

// N (4 or 8) consecutive elements in one vector access: load4/store4 or load8/store8.
template <int N, typename T>
__device__ __forceinline__ void load_vec_as_float(const T* ptr, float (&out)[N]) {
  static_assert(N == 4 || N == 8, "vectors of 4 or 8 elements");
  if constexpr (N == 4) {
    load4_as_float(ptr, out);
  } else {
    load8_as_float(ptr, out);
  }
}

template <int N, typename T>
__device__ __forceinline__ void store_vec_from_float(T* ptr, const float (&in)[N]) {
  static_assert(N == 4 || N == 8, "vectors of 4 or 8 elements");
  if constexpr (N == 4) {
    store4_from_float(ptr, in);
  } else {
    store8_from_float(ptr, in);
  }
}

template <typename T>
__device__ __forceinline__ float load_as_float(const T* ptr) {
  return DTypeTraits<T>::to_float(*ptr);
}

template <typename T>
__device__ __forceinline__ void store_from_float(T* ptr, float value) {
  *ptr = DTypeTraits<T>::from_float(value);
}

}  // namespace convkernels
