// Host emulation of the CUDA runtime subset and device built-ins used by csrc/kernels, so the
// real kernel sources run on a CPU (emulate_kernels.py here). Each CUDA thread is a std::thread,
// blocks run one after another (so `static` stands in for __shared__), __syncthreads is a
// std::barrier, and warp-level operations exchange values through a per-warp buffer.
// Test-only: never part of the extension build.
#pragma once

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
// Aligned like CUDA's vector types, so that UBSan flags a vector access through a misaligned pointer.
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { uint32_t x, y; };
struct alignas(16) uint4 { uint32_t x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoKernelImageForDevice = 209,
};
using cudaStream_t = struct CUstream_st*;
enum cudaDeviceAttr {
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

namespace ck_emu {

struct Warp {
  std::barrier<> barrier{32};
  uint32_t words[32][12];
  float floats[32][4];
  void sync() { barrier.arrive_and_wait(); }
};

struct Block {
  explicit Block(unsigned threads) : barrier(threads), warps((threads + 31) / 32) {}
  std::barrier<> barrier;
  std::vector<Warp> warps;
};

inline thread_local Block* tl_block = nullptr;
inline int g_sm_count = 4;  // what cudaDevAttrMultiProcessorCount reports (tests vary it)
inline int g_compute_major = 9;
inline cudaError_t g_last_error = cudaSuccess;
// tf32 mma operands that were not rounded by cvt.rna.tf32 first (see common/mma_sm80.cuh).
inline std::atomic<long> g_unrounded_tf32_operands{0};
// Lanes that took part in an m16n8k8 tf32 mma (32 per warp-wide mma): 3xTF32 must issue 3x TF32's.
inline std::atomic<long> g_tf32_mma_lanes{0};
inline std::vector<unsigned char>& dynamic_shared() {
  static std::vector<unsigned char> bytes(256 * 1024);
  return bytes;
}

}  // namespace ck_emu

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

inline void __syncthreads() { ck_emu::tl_block->barrier.arrive_and_wait(); }
inline ck_emu::Warp& current_warp() { return ck_emu::tl_block->warps[threadIdx.x / 32]; }

template <typename T>
T __shfl_down_sync(unsigned, T value, int delta) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  ck_emu::Warp& w = current_warp();
  const int lane = threadIdx.x % 32;
  std::memcpy(&w.words[lane][0], &value, 4);
  w.sync();
  T result = value;
  if (lane + delta < 32) std::memcpy(&result, &w.words[lane + delta][0], 4);
  w.sync();
  return result;
}

template <typename T>
T __ldg(const T* ptr) { return *ptr; }
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; std::memcpy(&x, &u, 4); return x; }
inline size_t __cvta_generic_to_shared(const void* ptr) {
  return size_t(static_cast<const unsigned char*>(ptr) - ck_emu::dynamic_shared().data());
}
using std::max;
using std::min;

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = ck_emu::g_last_error;
  ck_emu::g_last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaGetDevice(int* device) { *device = 0; return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int) {
  *value = attr == cudaDevAttrMultiProcessorCount ? ck_emu::g_sm_count
           : attr == cudaDevAttrComputeCapabilityMajor ? ck_emu::g_compute_major : 0;
  return cudaSuccess;
}
template <typename F>
cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int bytes) {
  return bytes <= int(ck_emu::dynamic_shared().size()) ? cudaSuccess : cudaErrorInvalidValue;
}
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }

namespace ck_emu {

// kernel<<<grid, block, smem, stream>>>(args...) is rewritten to launch(kernel, grid, block, smem, stream, args...).
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t, Args&&... args) {
  const unsigned threads = block.x * block.y * block.z;
  if (smem_bytes > dynamic_shared().size() || threads == 0 || threads > 1024 || block.y != 1 || block.z != 1 ||
      grid.z > 65535) {
    g_last_error = cudaErrorInvalidValue;
    return;
  }
  for (unsigned bz = 0; bz < grid.z; ++bz)
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::fill(dynamic_shared().begin(), dynamic_shared().end(), 0xCD);  // stale data must not matter
      Block state(threads);
      std::vector<std::thread> pool;
      pool.reserve(threads);
      for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          tl_block = &state;
          threadIdx = dim3(t);
          blockIdx = dim3(bx, by, bz);
          blockDim = block;
          gridDim = grid;
          kernel(args...);
          // An exited thread no longer takes part in barriers (like a retired CUDA thread).
          state.warps[t / 32].barrier.arrive_and_drop();
          state.barrier.arrive_and_drop();
        });
      }
      for (auto& th : pool) th.join();
    }
}

}  // namespace ck_emu
