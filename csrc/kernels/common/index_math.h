// Host/device integer helpers shared by all kernels. No CUDA headers: this file is also
// compiled by plain g++ for the host-only index tests (csrc/tests/test_index_math.cpp).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define CK_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define CK_HOST_DEVICE inline
#endif

namespace convkernels {

// For a >= 0, b > 0; no a + b - 1 term, so a near INT_MAX cannot overflow.
CK_HOST_DEVICE constexpr int ceil_div(int a, int b) { return a / b + (a % b != 0 ? 1 : 0); }
CK_HOST_DEVICE constexpr int64_t ceil_div64(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// Python-style floor division; conv output sizes need it because the numerator can be negative.
CK_HOST_DEVICE constexpr int64_t floor_div64(int64_t a, int64_t b) {
  return (a >= 0) ? a / b : -((-a + b - 1) / b);
}

// P = floor((H + 2*pad - dil*(R-1) - 1) / stride) + 1; <= 0 means the window does not fit.
CK_HOST_DEVICE constexpr int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride,
                                                  int64_t pad, int64_t dil) {
  return floor_div64(in + 2 * pad - dil * (kernel - 1) - 1, stride) + 1;
}

CK_HOST_DEVICE uint32_t umulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Division by a runtime-constant divisor with one multiply-high and a shift (Granlund-Montgomery,
// as in CUTLASS's FastDivmod). Exact for 0 <= n < 2^31 and 1 <= divisor < 2^31.
struct FastDivmod {
  int32_t divisor = 1;
  uint32_t multiplier = 0;
  uint32_t shift = 0;

  FastDivmod() = default;
  CK_HOST_DEVICE explicit FastDivmod(int32_t d) : divisor(d), multiplier(0), shift(0) {
    if (d > 1) {
      uint32_t log2_ceil = 0;
      while ((int64_t(1) << log2_ceil) < d) ++log2_ceil;
      const uint32_t p = 31 + log2_ceil;
      multiplier = static_cast<uint32_t>(((uint64_t(1) << p) + uint32_t(d) - 1) / uint32_t(d));
      shift = p - 32;
    }
  }
  // A divisor of 0 only occurs for empty extents that are never decomposed; it yields 0.
  CK_HOST_DEVICE int32_t div(int32_t n) const {
    if (divisor > 1) return static_cast<int32_t>(umulhi32(static_cast<uint32_t>(n), multiplier) >> shift);
    return divisor == 1 ? n : 0;
  }
  CK_HOST_DEVICE void divmod(int32_t n, int32_t& quotient, int32_t& remainder) const {
    quotient = div(n);
    remainder = n - quotient * divisor;
  }
};

}  // namespace convkernels
