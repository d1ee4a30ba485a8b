// Test-only stand-in for csrc/kernels/common/mma_sm80.cuh (found first on the include path):
// the same API, implemented on the CPU from the PTX ISA definitions, so the tensor-core conv
// kernel runs unmodified in the emulator.
//   cp.async.cg 16 B with zero-fill -> synchronous copy (commit/wait become no-ops)
//   ldmatrix.x4: lanes 8j..8j+7 hold the row addresses of matrix j; lane t gets row t/4,
//                elements 2*(t%4), 2*(t%4)+1 (low half first) of matrix j in register j
//   mma.m16n8k16 row.col f32: fragment layouts of the ISA (groupID = lane/4, tig = lane%4)
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#define CK_SM80_ENABLED 1

namespace convkernels {

inline uint32_t shared_address(const void* ptr) { return static_cast<uint32_t>(__cvta_generic_to_shared(ptr)); }

inline void cp_async_16_zfill(uint32_t smem_addr, const void* gmem_ptr, bool valid) {
  unsigned char* dst = ck_emu::dynamic_shared().data() + smem_addr;
  if (valid) {
    std::memcpy(dst, gmem_ptr, 16);
  } else {
    std::memset(dst, 0, 16);
  }
}
inline void cp_async_commit() {}
template <int kPending>
inline void cp_async_wait() {}

inline void ldmatrix_x4(uint32_t (&frag)[4], uint32_t smem_addr) {
  ck_emu::Warp& w = current_warp();
  const int lane = threadIdx.x % 32;
  w.words[lane][0] = smem_addr;
  w.sync();
  for (int j = 0; j < 4; ++j) {
    const uint32_t row_addr = w.words[8 * j + lane / 4][0];
    std::memcpy(&frag[j], ck_emu::dynamic_shared().data() + row_addr + 4 * (lane % 4), 4);
  }
  w.sync();
}

template <typename T>
struct MmaM16N8K16 {
  static float element(const uint32_t* regs, int reg, int half) {
    T v;
    const uint16_t bits = static_cast<uint16_t>(regs[reg] >> (16 * half));
    std::memcpy(&v, &bits, 2);
    if constexpr (sizeof(T) == 2 && std::is_same_v<T, __half>) return __half2float(v);
    else return __bfloat162float(v);
  }
  static void run(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    ck_emu::Warp& w = current_warp();
    const int lane = threadIdx.x % 32;
    for (int i = 0; i < 4; ++i) w.words[lane][i] = a[i];
    for (int i = 0; i < 2; ++i) w.words[lane][4 + i] = b[i];
    w.sync();
    for (int i = 0; i < 4; ++i) {
      const int row = lane / 4 + 8 * (i / 2);
      const int col = 2 * (lane % 4) + (i % 2);
      float sum = acc[i];
      for (int k = 0; k < 16; ++k) {
        // A(row, k) lives in lane (row%8)*4 + (k%8)/2, register (row/8) + 2*(k/8), half k%2;
        // B(k, col) lives in lane col*4 + (k%8)/2, register k/8, half k%2.
        const float av = element(w.words[(row % 8) * 4 + (k % 8) / 2], (row / 8) + 2 * (k / 8), k % 2);
        const float bv = element(w.words[col * 4 + (k % 8) / 2] + 4, k / 8, k % 2);
        sum += av * bv;
      }
      acc[i] = sum;
    }
    w.sync();
  }
};

}  // namespace convkernels
