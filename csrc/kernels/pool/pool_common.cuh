// Device helpers shared by the pooling and LRN kernels: walking a dense NCHW / NHWC tensor in
// memory order (32-bit fast division, or 64-bit when the element count needs it), and loading
// or storing V consecutive channels as floats (V = 1, or one 16-byte vector in channels_last).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype_traits.cuh"
#include "common/index_math.h"
#include "pool/pool_geometry.h"

namespace convkernels {
namespace pool {

constexpr int kThreads = 256;
// 4 blocks of 256 threads per SM (64 registers each) is the occupancy these memory-bound kernels
// need; saying so also stops ptxas from squeezing them into 32 registers with spills.
constexpr int kMinBlocks = 4;
constexpr int64_t kInt32Max = (int64_t(1) << 31) - 1;

struct Coord4 {
  int64_t n, c, y, x;
};

// A dense [N, C, Y, X] tensor in NCHW (x fastest) or NHWC (c fastest) memory order, with the
// channels counted in vectors of V: element e of the walk is one vector (V = 1: one value).
struct DenseWalk {
  int64_t count = 0;  // N * (C / V) * Y * X
  int64_t c_vecs = 1, Y = 1, X = 1;
  FastDivmod div_c, div_y, div_x;  // valid when count < 2^31
};

inline DenseWalk make_walk(int64_t N, int64_t C, int64_t Y, int64_t X, int V) {
  DenseWalk d;
  d.c_vecs = C / V, d.Y = Y, d.X = X;
  d.count = N * d.c_vecs * Y * X;
  if (d.count <= kInt32Max) {
    d.div_c = FastDivmod(static_cast<int32_t>(d.c_vecs));
    d.div_y = FastDivmod(static_cast<int32_t>(Y));
    d.div_x = FastDivmod(static_cast<int32_t>(X));
  }
  return d;
}

// Coordinates of walk element e; c is the first channel of the vector (vector index * V).
template <bool kChannelsLast, bool k64, int V>
__device__ __forceinline__ Coord4 walk_coord(int64_t e, const DenseWalk& d) {
  Coord4 r;
  if constexpr (k64) {
    if constexpr (kChannelsLast) {
      r.c = e % d.c_vecs, e /= d.c_vecs;
      r.x = e % d.X, e /= d.X;
      r.y = e % d.Y, r.n = e / d.Y;
    } else {
      r.x = e % d.X, e /= d.X;
      r.y = e % d.Y, e /= d.Y;
      r.c = e % d.c_vecs, r.n = e / d.c_vecs;
    }
  } else {
    int32_t t = static_cast<int32_t>(e), q, rem;
    if constexpr (kChannelsLast) {
      d.div_c.divmod(t, q, rem), r.c = rem;
      d.div_x.divmod(q, q, rem), r.x = rem;
      d.div_y.divmod(q, q, rem), r.y = rem, r.n = q;
    } else {
      d.div_x.divmod(t, q, rem), r.x = rem;
      d.div_y.divmod(q, q, rem), r.y = rem;
      d.div_c.divmod(q, q, rem), r.c = rem, r.n = q;
    }
  }
  r.c *= V;
  return r;
}

// V consecutive elements <-> V floats: one scalar, or one aligned 16-byte access
// (common/dtype_traits.cuh's vector loads).
template <typename T, int V>
struct ChannelVec {
  static_assert(V == 1 || V * sizeof(T) == 16, "scalar or one 16-byte vector");
  static __device__ __forceinline__ void load(const T* ptr, float (&out)[V]) {
    if constexpr (V == 1) {
      out[0] = load_as_float(ptr);
    } else {
      load_vec_as_float<V>(ptr, out);
    }
  }
  static __device__ __forceinline__ void store(T* ptr, const float (&in)[V]) {
    if constexpr (V == 1) {
      store_from_float(ptr, in[0]);
    } else {
      store_vec_from_float<V>(ptr, in);
    }
  }
};

// V consecutive int64 indices (channels of one channel vector): one scalar, or V / 2 aligned
// 16-byte accesses. Indices are int64 (torch's type) and so are 4x the bytes of fp16 values: as
// scalars they would cost V 8-byte accesses per vector. In-plane indices fit 32 bits
// (pool2d_limit_violation), so the kernels hold them as int32 and widen here (sign included:
// -1 stays -1). Packed as two little-endian halves of a uint4, the 16-byte type the emulator
// and every CUDA toolkit know.
template <int V>
struct IndexVec {
  static_assert(V == 1 || V % 2 == 0, "scalar or pairs of int64");
  static __device__ __forceinline__ void store(int64_t* ptr, const int32_t (&in)[V]) {
    if constexpr (V == 1) {
      *ptr = in[0];
    } else {
#pragma unroll
      for (int j = 0; j < V; j += 2) {
        const uint64_t lo = static_cast<uint64_t>(static_cast<int64_t>(in[j]));
        const uint64_t hi = static_cast<uint64_t>(static_cast<int64_t>(in[j + 1]));
        uint4 bits;
        bits.x = static_cast<uint32_t>(lo), bits.y = static_cast<uint32_t>(lo >> 32);
        bits.z = static_cast<uint32_t>(hi), bits.w = static_cast<uint32_t>(hi >> 32);
        reinterpret_cast<uint4*>(ptr)[j / 2] = bits;
      }
    }
  }
  static __device__ __forceinline__ void load(const int64_t* ptr, int64_t (&out)[V]) {
    if constexpr (V == 1) {
      out[0] = *ptr;
    } else {
#pragma unroll
      for (int j = 0; j < V; j += 2) {
        const uint4 bits = reinterpret_cast<const uint4*>(ptr)[j / 2];
        out[j] = static_cast<int64_t>(uint64_t(bits.x) | uint64_t(bits.y) << 32);
        out[j + 1] = static_cast<int64_t>(uint64_t(bits.z) | uint64_t(bits.w) << 32);
      }
    }
  }
};

// One axis of a pooling window in the 32-bit form the kernels use: few, narrow loop-invariant
// values (kernel parameters live in uniform registers; 64-bit ones doubled their pressure and
// made ptxas spill). pool2d_limit_violation() guarantees every value and product fits.
struct Axis32 {
  int in, out, kernel, stride, pad, dilation;
};

struct Window32 {
  Axis32 h, w;
};

inline Axis32 to_axis32(const PoolAxis& a) {
  return {static_cast<int>(a.in),     static_cast<int>(a.out), static_cast<int>(a.kernel),
          static_cast<int>(a.stride), static_cast<int>(a.pad), static_cast<int>(a.dilation)};
}

inline Window32 to_window32(const PoolWindow2d& g) { return {to_axis32(g.h), to_axis32(g.w)}; }

// The taps of one output's window along one axis: for (t = first; t < end; t += step), all
// inside the input. Fixed: o*stride - pad + i*dilation; adaptive: [floor(o*I/O), ceil((o+1)*I/O)).
struct WindowRange {
  int first, end, step;
};

template <bool kAdaptive>
__device__ __forceinline__ WindowRange window_range(const Axis32& a, int o) {
  if constexpr (kAdaptive) {
    return {(o * a.in) / a.out, ((o + 1) * a.in + a.out - 1) / a.out, 1};
  } else {
    const int start = o * a.stride - a.pad;
    const int first = start >= 0 ? start : start + ((-start + a.dilation - 1) / a.dilation) * a.dilation;
    const int last = start + (a.kernel - 1) * a.dilation;  // inclusive
    return {first, last < a.in ? last + 1 : a.in, a.dilation};
  }
}

// The outputs whose window reads input i along one axis, for the gather-form backward passes:
// output(t) for t < taps, where -1 means "tap t covers no output". Adaptive: outputs
// [floor(i*O/I), ceil((i+1)*O/I)); fixed: tap t covers i when i + pad - t*dilation is a
// non-negative multiple of stride below out*stride.
struct CoverIter {
  int taps, base;
  __device__ __forceinline__ int output(const Axis32& a, bool adaptive, int t) const {
    if (adaptive) return base + t;
    const int num = base + a.pad - t * a.dilation;
    if (num < 0) return -1;
    const int o = num / a.stride;
    return (o * a.stride == num && o < a.out) ? o : -1;
  }
};

template <bool kAdaptive>
__device__ __forceinline__ CoverIter cover_iter(const Axis32& a, int i) {
  if constexpr (kAdaptive) {
    const int first = (i * a.out) / a.in;
    return {((i + 1) * a.out + a.in - 1) / a.in - first, first};
  } else {
    return {a.kernel, i};
  }
}

// Blocks for a grid-stride loop over `count` elements: a few waves, never more than needed.
int grid_blocks(int64_t count);

// Whether a [.., C, ..] tensor with these element strides can be read V channels at a time:
// unit channel stride, every other stride a multiple of V, and a 16-byte aligned base.
bool channel_vectors_ok(const void* base, const int64_t (&strides)[4], int64_t C, int V);

// Launches Launch<T, V, channels_last, k64>::run(args, blocks, stream) with the walk over a
// dense [N, C, Y, X] (the tensor the kernel writes): V = 16-byte channel vectors when
// `vector` (channels_last only), 64-bit index math when the walk needs it or it is forced.
template <typename T, typename Args, template <typename, int, bool, bool> class Launch>
cudaError_t dispatch_layout(Args a, bool channels_last, bool vector, int64_t N, int64_t C, int64_t Y, int64_t X,
                            bool force_int64, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const int V = (channels_last && vector) ? kVec : 1;
  a.walk = make_walk(N, C, Y, X, V);
  if (a.walk.count == 0) return cudaSuccess;
  const bool k64 = force_int64 || a.walk.count * V > kInt32Max;
  const int blocks = grid_blocks(a.walk.count);
  if (!channels_last) {
    return k64 ? Launch<T, 1, false, true>::run(a, blocks, stream) : Launch<T, 1, false, false>::run(a, blocks, stream);
  }
  if (V == 1) {
    return k64 ? Launch<T, 1, true, true>::run(a, blocks, stream) : Launch<T, 1, true, false>::run(a, blocks, stream);
  }
  return k64 ? Launch<T, kVec, true, true>::run(a, blocks, stream) : Launch<T, kVec, true, false>::run(a, blocks, stream);
}

}  // namespace pool
}  // namespace convkernels
