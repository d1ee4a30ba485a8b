// Inline-PTX wrappers for the sm_80+ data path: cp.async (global -> shared, bypassing registers),
// ldmatrix (shared -> mma fragments), mma.sync m16n8k16 (fp16/bf16) and m16n8k8 (tf32) with fp32
// accumulation, and the fp32 -> tf32 rounding the tf32 mma operands need.
// Callers must only execute these on __CUDA_ARCH__ >= 800; the bodies compile to nothing
// (and the TC kernel body is empty) for older targets so a mixed arch list still builds.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define CK_SM80_ENABLED 1
#else
#define CK_SM80_ENABLED 0
#endif

namespace convkernels {

__device__ __forceinline__ uint32_t shared_address(const void* ptr) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(ptr));
}

// 16-byte async copy that writes zeros when `valid` is false (src-size 0: nothing is read,
// so the masked-off source address is never dereferenced). .cg keeps the data out of L1:
// every element is staged in shared memory once per CTA anyway.
__device__ __forceinline__ void cp_async_16_zfill(uint32_t smem_addr, const void* gmem_ptr, bool valid) {
#if CK_SM80_ENABLED
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr), "l"(gmem_ptr),
               "r"(src_bytes)
               : "memory");
#endif
}

// 16-byte store to shared memory (for operands computed in registers rather than copied).
__device__ __forceinline__ void st_shared_16(uint32_t smem_addr, const uint4& v) {
  asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(smem_addr), "r"(v.x), "r"(v.y), "r"(v.z),
               "r"(v.w)
               : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
#if CK_SM80_ENABLED
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Wait until at most `kPending` of this thread's committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#if CK_SM80_ENABLED
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

// Four 8x8 b16 matrices; lanes 8j..8j+7 supply the row addresses of matrix j, and
// frag[j] of lane l receives row l/4, columns 2*(l%4) and 2*(l%4)+1 of matrix j.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&frag)[4], uint32_t smem_addr) {
#if CK_SM80_ENABLED
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(frag[0]), "=r"(frag[1]), "=r"(frag[2]), "=r"(frag[3])
               : "r"(smem_addr));
#endif
}

// D = A * B + D for one m16n8k16 tile: A row-major 16x16, B "col" (stored n-major, k contiguous).
template <typename T>
struct MmaM16N8K16;

template <>
struct MmaM16N8K16<__half> {
  static __device__ __forceinline__ void run(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if CK_SM80_ENABLED
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};

template <>
struct MmaM16N8K16<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if CK_SM80_ENABLED
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};

// fp32 bits -> the value rounded to TF32 (10 explicit mantissa bits; round to nearest, ties away
// from zero; the 13 dropped bits come out 0). The PTX ISA defines a .tf32 mma operand only as what
// cvt produces (its layout is implementation-defined), so raw fp32 bits must not reach the mma;
// current hardware would simply ignore (truncate) the low bits.
__device__ __forceinline__ uint32_t round_to_tf32(uint32_t f32_bits) {
  uint32_t tf32_bits = f32_bits;
#if CK_SM80_ENABLED
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(tf32_bits) : "r"(f32_bits));
#endif
  return tf32_bits;
}

// D = A * B + D for one m16n8k8 tile with TF32 operands (each register one element, already
// rounded by round_to_tf32): A row-major 16x8 in 4 registers, B "col" 8x8 in 2, fp32 accumulators
// laid out as for m16n8k16.
struct MmaM16N8K8Tf32 {
  static __device__ __forceinline__ void run(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if CK_SM80_ENABLED
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};

}  // namespace convkernels
