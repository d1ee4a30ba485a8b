// Winograd F(m x m, 3 x 3) transform matrices as host-device constexpr data, m = 2 and 4.
//
// Generated from the exact (rational) construction in convkernels/reference/winograd.py
// (modified Toom-Cook: points p_j plus infinity), which the Python tests check against
// this header:
//   A^T [m][alpha]      A^T[i][j] = p_j^i, infinity column e_{m-1}
//   G   [alpha][3]      G[j][k] = p_j^k / prod_{l != j} (p_j - p_l), infinity row (0, 0, 1)
//   B^T [alpha][alpha]  row j = coefficients of prod_{l != j} (x - p_l); infinity row = prod_l (x - p_l)
// Points: F(2x2): (0, 1, -1, inf). F(4x4): (0, 1, -1, 1/2, -1/2, inf), chosen over the textbook
// (0, +-1, +-2, inf) for its smaller input/output transform entries (max 1.25 and 1 instead of
// 5 and 8); see docs/ops/winograd.md for the measured errors.
// Accessors rather than static member arrays so that device code can use them; the kernels call
// them in fully unrolled loops, so every coefficient is a compile-time constant and the zero
// terms are skipped at compile time.
#pragma once

#include <cuda_runtime.h>

namespace convkernels {
namespace winograd {

template <int M>
struct Transform;

template <>
struct Transform<2> {
  static constexpr int kM = 2;
  static constexpr int kAlpha = 4;
  __host__ __device__ static constexpr float at(int i, int j) {
    constexpr float t[2][4] = {{1.0f, 1.0f, 1.0f, 0.0f}, {0.0f, 1.0f, -1.0f, 1.0f}};
    return t[i][j];
  }
  __host__ __device__ static constexpr float g(int i, int j) {
    constexpr float t[4][3] = {{-1.0f, 0.0f, 0.0f}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0.0f, 0.0f, 1.0f}};
    return t[i][j];
  }
  __host__ __device__ static constexpr float bt(int i, int j) {
    constexpr float t[4][4] = {
      {-1.0f, 0.0f, 1.0f, 0.0f}, {0.0f, 1.0f, 1.0f, 0.0f}, {0.0f, -1.0f, 1.0f, 0.0f}, {0.0f, -1.0f, 0.0f, 1.0f}};
    return t[i][j];
  }
};

template <>
struct Transform<4> {
  static constexpr int kM = 4;
  static constexpr int kAlpha = 6;
  __host__ __device__ static constexpr float at(int i, int j) {
    constexpr float t[4][6] = {{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
                                      {0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 0.0f},
                                      {0.0f, 1.0f, 1.0f, 0.25f, 0.25f, 0.0f},
                                      {0.0f, 1.0f, -1.0f, 0.125f, -0.125f, 1.0f}};
    return t[i][j];
  }
  __host__ __device__ static constexpr float g(int i, int j) {
    constexpr float t[6][3] = {{4.0f, 0.0f, 0.0f},
                                     {0.6666666666666666f, 0.6666666666666666f, 0.6666666666666666f},
                                     {0.6666666666666666f, -0.6666666666666666f, 0.6666666666666666f},
                                     {-2.6666666666666665f, -1.3333333333333333f, -0.6666666666666666f},
                                     {-2.6666666666666665f, 1.3333333333333333f, -0.6666666666666666f},
                                     {0.0f, 0.0f, 1.0f}};
    return t[i][j];
  }
  __host__ __device__ static constexpr float bt(int i, int j) {
    constexpr float t[6][6] = {{0.25f, 0.0f, -1.25f, 0.0f, 1.0f, 0.0f},
                                      {0.0f, -0.25f, -0.25f, 1.0f, 1.0f, 0.0f},
                                      {0.0f, 0.25f, -0.25f, -1.0f, 1.0f, 0.0f},
                                      {0.0f, -0.5f, -1.0f, 0.5f, 1.0f, 0.0f},
                                      {0.0f, 0.5f, -1.0f, -0.5f, 1.0f, 0.0f},
                                      {0.0f, 0.25f, 0.0f, -1.25f, 0.0f, 1.0f}};
    return t[i][j];
  }
};

}  // namespace winograd
}  // namespace convkernels
