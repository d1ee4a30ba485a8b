// Test-only stand-in for csrc/kernels/common/mma_sm80.cuh (found first on the include path):
// the same API, implemented on the CPU from the PTX ISA definitions, so the tensor-core conv
// kernel runs unmodified in the emulator.
//   cp.async.cg 16 B with zero-fill -> synchronous copy (commit/wait become no-ops)
//   ldmatrix.x4: lanes 8j..8j+7 hold the row addresses of matrix j; lane t gets row t/4,
//                elements 2*(t%4), 2*(t%4)+1 (low half first) of matrix j in register j
//   mma.m16n8k16 row.col f32: fragment layouts of the ISA (groupID = lane/4, tig = lane%4)
//   cvt.rna.tf32.f32: round to nearest, ties away from zero, on the 13 dropped mantissa bits
//   mma.m16n8k8 row.col f32.tf32: ISA fragment layouts; an operand whose low 13 bits are not 0
//                (not produced by cvt) is truncated, as the hardware does, and counted in
//                ck_emu::g_unrounded_tf32_operands
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
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
inline void st_shared_16(uint32_t smem_addr, const uint4& v) {
  std::memcpy(ck_emu::dynamic_shared().data() + smem_addr, &v, 16);
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

// What every emulated mma.m16n8kK shares: the warp exchanges its fragments (A registers 0-3 and
// B registers 0-1 of lane l land in words[l][0..3] and words[l][4..5]), then each lane computes
// its 4 accumulators, element i at (row lane/4 + 8*(i/2), col 2*(lane%4) + i%2), in fp32 from
// A(row, k) and B(k, col), which a_at / b_at locate in the exchanged registers.
using WarpWords = uint32_t[32][12];
template <int kK, typename AAt, typename BAt>
void emulate_mma(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], AAt a_at, BAt b_at) {
  ck_emu::Warp& w = current_warp();
  const int lane = threadIdx.x % 32;
  for (int i = 0; i < 4; ++i) w.words[lane][i] = a[i];
  for (int i = 0; i < 2; ++i) w.words[lane][4 + i] = b[i];
  w.sync();
  for (int i = 0; i < 4; ++i) {
    const int row = lane / 4 + 8 * (i / 2);
    const int col = 2 * (lane % 4) + (i % 2);
    float sum = acc[i];
    for (int k = 0; k < kK; ++k) sum += a_at(w.words, row, k) * b_at(w.words, k, col);
    acc[i] = sum;
  }
  w.sync();
}

template <typename T>
struct MmaM16N8K16 {
  static float element(uint32_t reg, int half) {
    T v;
    const uint16_t bits = static_cast<uint16_t>(reg >> (16 * half));
    std::memcpy(&v, &bits, 2);
    if constexpr (sizeof(T) == 2 && std::is_same_v<T, __half>) return __half2float(v);
    else return __bfloat162float(v);
  }
  // A(row, k) lives in lane (row%8)*4 + (k%8)/2, register (row/8) + 2*(k/8), half k%2;
  // B(k, col) lives in lane col*4 + (k%8)/2, register k/8, half k%2.
  static void run(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    emulate_mma<16>(
        acc, a, b,
        [](const WarpWords& words, int row, int k) {
          return element(words[(row % 8) * 4 + (k % 8) / 2][(row / 8) + 2 * (k / 8)], k % 2);
        },
        [](const WarpWords& words, int k, int col) { return element(words[col * 4 + (k % 8) / 2][4 + k / 8], k % 2); });
  }
};

inline uint32_t round_to_tf32(uint32_t bits) {
  if ((bits & 0x7f800000u) == 0x7f800000u) {  // Inf stays Inf; NaN stays a (quiet) NaN
    return (bits & 0x007fffffu) != 0 ? (bits | 0x00400000u) & ~0x1fffu : bits;
  }
  // Magnitude + half an ulp of tf32, then drop the 13 bits: ties (exactly 0x1000) round away from
  // zero. A carry into the exponent is the correct result (up to Inf for the largest values).
  return (bits + 0x1000u) & ~0x1fffu;
}

struct MmaM16N8K8Tf32 {
  // Like the hardware, use only the top 19 bits (an unrounded operand is truncated), and count it.
  static float element(uint32_t bits) {
    if ((bits & 0x1fffu) != 0) ++ck_emu::g_unrounded_tf32_operands;
    bits &= ~0x1fffu;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  // One element per register. A(row, k) lives in lane (row%8)*4 + k%4, register (row/8) + 2*(k/4);
  // B(k, col) lives in lane col*4 + k%4, register k/4. Products of two TF32 values are exact in fp32.
  static void run(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    ++ck_emu::g_tf32_mma_lanes;
    emulate_mma<8>(
        acc, a, b,
        [](const WarpWords& words, int row, int k) { return element(words[(row % 8) * 4 + k % 4][(row / 8) + 2 * (k / 4)]); },
        [](const WarpWords& words, int k, int col) { return element(words[col * 4 + k % 4][4 + k / 4]); });
  }
};

}  // namespace convkernels
