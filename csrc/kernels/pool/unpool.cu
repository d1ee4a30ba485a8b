// max_unpool2d: forward scatters each input value to its switch in a zeroed plane; backward is
// the matching gather (each input-shaped gradient element reads grad_output at its switch).
// Both walk the input-shaped tensor in the order its strides make contiguous, so reads of the
// input / writes of grad_input coalesce; the plane side is data-dependent.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_dispatch.cuh"
#include "common/dtype_traits.cuh"
#include "common/launch.h"
#include "pool/pool.h"
#include "pool/pool_common.cuh"

namespace convkernels {
namespace pool {

struct UnpoolArgs {
  const void* source;
  const int64_t* indices;
  void* dest;
  int64_t OW;
  DenseWalk walk;  // over the input-shaped [N, C, H, W]
  int64_t src_strides[4], idx_strides[4], dst_strides[4];
  bool input_is_dest;  // backward: the input-shaped tensor is the destination
};

template <typename T, bool kChannelsLast, bool k64>
__global__ void __launch_bounds__(kThreads, kMinBlocks) unpool_kernel(const UnpoolArgs a) {
  const T* __restrict__ src = static_cast<const T*>(a.source);
  T* __restrict__ dst = static_cast<T*>(a.dest);
  const int64_t step = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < a.walk.count; e += step) {
    const Coord4 p = walk_coord<kChannelsLast, k64, 1>(e, a.walk);
    const int64_t* is = a.idx_strides;
    const int64_t where = a.indices[p.n * is[0] + p.c * is[1] + p.y * is[2] + p.x * is[3]];
    const int64_t oh = where / a.OW, ow = where - (where / a.OW) * a.OW;
    if (a.input_is_dest) {  // backward: gather
      const int64_t* ss = a.src_strides;
      const int64_t* ds = a.dst_strides;
      dst[p.n * ds[0] + p.c * ds[1] + p.y * ds[2] + p.x * ds[3]] =
          src[p.n * ss[0] + p.c * ss[1] + oh * ss[2] + ow * ss[3]];
    } else {  // forward: scatter
      const int64_t* ss = a.src_strides;
      const int64_t* ds = a.dst_strides;
      dst[p.n * ds[0] + p.c * ds[1] + oh * ds[2] + ow * ds[3]] =
          src[p.n * ss[0] + p.c * ss[1] + p.y * ss[2] + p.x * ss[3]];
    }
  }
}

#define CK_INSTANTIATE_UNPOOL(T)                                            \
  template __global__ void unpool_kernel<T, false, false>(const UnpoolArgs); \
  template __global__ void unpool_kernel<T, false, true>(const UnpoolArgs);  \
  template __global__ void unpool_kernel<T, true, false>(const UnpoolArgs);  \
  template __global__ void unpool_kernel<T, true, true>(const UnpoolArgs);
CK_INSTANTIATE_UNPOOL(float)
CK_INSTANTIATE_UNPOOL(__half)
CK_INSTANTIATE_UNPOOL(__nv_bfloat16)
#undef CK_INSTANTIATE_UNPOOL

template <typename T>
cudaError_t launch_unpool_typed(const UnpoolArgs& a, bool channels_last, bool k64, cudaStream_t stream) {
  const int blocks = grid_blocks(a.walk.count);
  if (channels_last) {
    if (k64) unpool_kernel<T, true, true><<<blocks, kThreads, 0, stream>>>(a);
    else unpool_kernel<T, true, false><<<blocks, kThreads, 0, stream>>>(a);
  } else {
    if (k64) unpool_kernel<T, false, true><<<blocks, kThreads, 0, stream>>>(a);
    else unpool_kernel<T, false, false><<<blocks, kThreads, 0, stream>>>(a);
  }
  return launch_status();
}

cudaError_t launch_unpool(const Unpool2dParams& p, DType dtype, bool backward, cudaStream_t stream) {
  UnpoolArgs a;
  a.source = p.source, a.indices = p.indices, a.dest = p.dest, a.OW = p.OW;
  a.input_is_dest = backward;
  for (int d = 0; d < 4; ++d) {
    a.src_strides[d] = p.source_strides[d];
    a.idx_strides[d] = p.indices_strides[d];
    a.dst_strides[d] = p.dest_strides[d];
  }
  a.walk = make_walk(p.N, p.C, p.H, p.W, 1);
  if (a.walk.count == 0) return cudaSuccess;
  // Walk the input-shaped side in its own memory order (channels innermost when its strides say so).
  const int64_t* s = backward ? p.dest_strides : p.source_strides;
  const bool channels_last = p.C > 1 && s[1] < s[3] && s[1] < s[2];
  const bool k64 = p.force_int64 || a.walk.count > kInt32Max;
  return dispatch_float_types(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_unpool_typed<T>(a, channels_last, k64, stream);
  });
}

}  // namespace pool

cudaError_t launch_max_unpool2d(const Unpool2dParams& p, DType dtype, cudaStream_t stream) {
  return pool::launch_unpool(p, dtype, false, stream);
}

cudaError_t launch_max_unpool2d_backward(const Unpool2dParams& p, DType dtype, cudaStream_t stream) {
  return pool::launch_unpool(p, dtype, true, stream);
}

}  // namespace convkernels
