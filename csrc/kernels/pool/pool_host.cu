// Host-side helpers of the pooling family: grid sizing, vector-path eligibility, size limits.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/launch.h"
#include "common/layout.h"
#include "pool/pool.h"
#include "pool/pool_common.cuh"

namespace convkernels {
namespace pool {

int grid_blocks(int64_t count) {
  const int64_t wanted = ceil_div64(count, kThreads);
  const int64_t cap = int64_t(current_device_sm_count()) * 16;  // grid-stride beyond a few waves
  return static_cast<int>(wanted < cap ? wanted : cap);
}

bool channel_vectors_ok(const void* base, const int64_t (&strides)[4], int64_t C, int V) {
  if (V == 1) return true;
  if (C % V != 0 || (C > 1 && strides[1] != 1)) return false;
  if (strides[0] % V != 0 || strides[2] % V != 0 || strides[3] % V != 0) return false;
  return pointer_aligned(base, 16);
}

}  // namespace pool

namespace {
// Every 32-bit quantity the kernels form along one axis (see Axis32 in pool_common.cuh).
bool axis_fits_int32(const PoolAxis& a, bool adaptive) {
  const int64_t lim = pool::kInt32Max;
  if (a.in > lim || a.out > lim || a.kernel > lim || a.stride > lim || a.pad > lim || a.dilation > lim) return false;
  if (adaptive) return (a.out + 1) * a.in <= lim && (a.in + 1) * a.out <= lim;  // o*I and i*O products
  // o*stride - pad + (kernel-1)*dilation and i + pad - t*dilation
  return a.out * a.stride + a.in + a.pad + a.kernel * a.dilation <= lim;
}
}  // namespace

const char* pool2d_limit_violation(int64_t N, int64_t C, const PoolWindow2d& g) {
  if (N < 0 || C < 0 || g.h.in < 0 || g.w.in < 0) return "negative size";
  if (g.h.in * g.w.in > pool::kInt32Max || g.h.out * g.w.out > pool::kInt32Max)
    return "an input or output plane (H*W) must have fewer than 2^31 elements";
  if (!axis_fits_int32(g.h, g.adaptive) || !axis_fits_int32(g.w, g.adaptive))
    return "window arithmetic along H or W must fit 32 bits (for adaptive pools: input size x output size < 2^31)";
  return "";
}

}  // namespace convkernels
