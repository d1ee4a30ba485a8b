// Winograd filter transform U = G w G^T: one thread per (k, c), fp32 math, one rounding.
// Output [alpha^2, K, C] dense with c fastest, so consecutive threads write consecutive
// elements of every point's plane.
#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "winograd/winograd.h"
#include "winograd/winograd_transforms.h"

namespace convkernels {
namespace {

constexpr int kFilterThreads = 256;

template <typename T, int M>
__global__ void __launch_bounds__(kFilterThreads) winograd_filter_transform_kernel(const WinogradFilterParams p) {
  using Tr = winograd::Transform<M>;
  constexpr int A = Tr::kAlpha;
  const int64_t kc = int64_t(blockIdx.x) * kFilterThreads + threadIdx.x;
  if (kc >= p.K * p.C) return;
  const int64_t k = kc / p.C;
  const int64_t c = kc - k * p.C;
  const T* w = static_cast<const T*>(p.weight) + k * p.weight_strides[0] + c * p.weight_strides[1];
  float g[3][3];
#pragma unroll
  for (int r = 0; r < 3; ++r)
#pragma unroll
    for (int s = 0; s < 3; ++s) g[r][s] = load_as_float(w + r * p.weight_strides[2] + s * p.weight_strides[3]);
  float gw[A][3];  // G g
#pragma unroll
  for (int a = 0; a < A; ++a)
#pragma unroll
    for (int s = 0; s < 3; ++s) gw[a][s] = Tr::g(a, 0) * g[0][s] + Tr::g(a, 1) * g[1][s] + Tr::g(a, 2) * g[2][s];
  T* out = static_cast<T*>(p.transformed);
  const int64_t plane = p.K * p.C;
#pragma unroll
  for (int a = 0; a < A; ++a)
#pragma unroll
    for (int b = 0; b < A; ++b) {
      const float v = gw[a][0] * Tr::g(b, 0) + gw[a][1] * Tr::g(b, 1) + gw[a][2] * Tr::g(b, 2);
      store_from_float(out + (a * A + b) * plane + kc, v);
    }
}

template <typename T, int M>
cudaError_t launch_filter(const WinogradFilterParams& p, cudaStream_t stream) {
  const int64_t blocks = (p.K * p.C + kFilterThreads - 1) / kFilterThreads;
  winograd_filter_transform_kernel<T, M><<<dim3(static_cast<unsigned>(blocks)), kFilterThreads, 0, stream>>>(p);
  return launch_status();
}

template <typename T>
cudaError_t launch_filter_tile(const WinogradFilterParams& p, int tile, cudaStream_t stream) {
  if (tile == 2) return launch_filter<T, 2>(p, stream);
  if (tile == 4) return launch_filter<T, 4>(p, stream);
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_winograd_filter_transform(const WinogradFilterParams& p, int tile, DType dtype,
                                             cudaStream_t stream) {
  if (p.K * p.C == 0) return cudaSuccess;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_filter_tile<T>(p, tile, stream);
  });
}

}  // namespace convkernels
