// Shared-memory and fragment layout of the tensor-core conv kernel (host/device, no CUDA
// headers; csrc/tests/test_index_math.cpp simulates cp.async + ldmatrix + mma with these).
//
// Everything here is in bytes, so one layout serves 16-bit (fp16/bf16) and 32-bit (fp32 data for
// TF32 math) elements:
// A tile: BM rows (output pixels) x 64 B of reduction values = 32 fp16/bf16 or 16 fp32 values,
// 4 chunks of 16 B per row. B tile: BN rows (output channels) x 64 B, stored the same way
// ([n][k], k contiguous), which is exactly the "col" operand layout of mma.sync ... .row.col.
//
// One mma k-step consumes 32 B of a row = 2 chunks: k16 of m16n8k16 (16-bit) or k8 of m16n8k8
// (tf32). ldmatrix .b16 reads 8 rows of 16 B per matrix and hands lane t the 4 bytes at
// 4*(t%4) of row t/4: two 16-bit values, or one whole 32-bit value. In both cases that is
// (row groupID, 4-byte column threadID_in_group), which is where the ISA puts A/B fragment
// elements for both instructions, so the same addresses (ldmatrix_*_source) feed both.
#pragma once

#include "common/index_math.h"

namespace convkernels {
namespace conv {
namespace tc {

constexpr int kRowBytes = 64;     // reduction bytes per tile row and pipeline stage
constexpr int kChunkBytes = 16;   // one cp.async, one ldmatrix matrix row
constexpr int kChunksPerRow = kRowBytes / kChunkBytes;  // 4
constexpr int kKStepBytes = 32;   // row bytes one mma k-step consumes (2 chunks)
constexpr int kKStepsPerStage = kRowBytes / kKStepBytes;  // 2

// Reduction values per stage (the kernel's BK) and per 16-byte chunk, by element size.
CK_HOST_DEVICE constexpr int block_k(int elem_bytes) { return kRowBytes / elem_bytes; }         // 32 | 16
CK_HOST_DEVICE constexpr int chunk_elems(int elem_bytes) { return kChunkBytes / elem_bytes; }   // 8 | 4

struct RowChunk {
  int row;
  int chunk;
};

struct RowCol {
  int row;
  int col;
};

// XOR swizzle: two 64 B rows share one 128 B line (8 chunks = all 32 banks); the logical chunk
// slot is XOR-ed with (line % 8). Any 8 consecutive rows (aligned to 8) read at one logical
// chunk then hit 8 distinct bank groups, so ldmatrix phases are conflict-free.
CK_HOST_DEVICE constexpr int swizzled_chunk_offset(int row, int chunk) {
  return (row >> 1) * 128 + (((((row & 1) << 2) | chunk) ^ ((row >> 1) & 7)) << 4);
}

// cp.async assignment: thread `tid` of `threads` copies chunk (tid % 4) of rows
// tid/4 + i*(threads/4). The chunk column is fixed per thread, so one (r, s, c) cursor serves
// all of a thread's rows.
CK_HOST_DEVICE constexpr RowChunk tile_load_source(int tid, int i, int threads) {
  return RowChunk{tid / kChunksPerRow + i * (threads / kChunksPerRow), tid % kChunksPerRow};
}

// ldmatrix.x4 for the A fragment of the 16-row sub-tile at row0, k-step `kstep` of the stage:
// matrices are (rows 0-7, first chunk), (rows 8-15, first chunk), (rows 0-7, second chunk),
// (rows 8-15, second chunk) = registers a0..a3. 16-bit: the chunks are k 0-7 and k 8-15 of the
// k16 step; tf32: k 0-3 and k 4-7 of the k8 step. Either way a0..a3 are the ISA's A fragment.
CK_HOST_DEVICE constexpr RowChunk ldmatrix_a_source(int lane, int row0, int kstep) {
  return RowChunk{row0 + (lane & 15), 2 * kstep + (lane >> 4)};
}

// ldmatrix.x4 for the B fragments of two n8 tiles starting at n0: matrices are
// (n 0-7, first chunk) = b0 and (n 0-7, second chunk) = b1 of tile n0, then the same for
// tile n0 + 8 (registers 2 and 3).
CK_HOST_DEVICE constexpr RowChunk ldmatrix_b_source(int lane, int n0, int kstep) {
  return RowChunk{n0 + (lane & 7) + ((lane >> 4) << 3), 2 * kstep + ((lane >> 3) & 1)};
}

// Accumulator element e (0..3) of an m16n8 fp32 tile held by `lane`.
CK_HOST_DEVICE constexpr RowCol accumulator_coord(int lane, int e) {
  return RowCol{(lane >> 2) + ((e >> 1) << 3), ((lane & 3) << 1) + (e & 1)};
}

}  // namespace tc
}  // namespace conv
}  // namespace convkernels
