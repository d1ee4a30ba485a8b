// Shared-memory and fragment layout of the tensor-core conv kernel (host/device, no CUDA
// headers; csrc/tests/test_index_math.cpp simulates cp.async + ldmatrix + mma with these).
//
// A tile: BM rows (output pixels) x 32 k-values of 16-bit = 64 B per row = 4 chunks of 16 B.
// B tile: BN rows (output channels) x 32 k-values, stored the same way ([n][k], k contiguous),
// which is exactly the "col" operand layout of mma.sync ... .row.col.
#pragma once

#include "common/index_math.h"

namespace convkernels {
namespace conv_direct {
namespace tc {

constexpr int kBlockK = 32;          // k-values per pipeline stage
constexpr int kChunkElems = 8;       // 16-bit elements per 16-byte chunk
constexpr int kChunksPerRow = kBlockK / kChunkElems;  // 4
constexpr int kRowBytes = kBlockK * 2;                // 64

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

// ldmatrix.x4 for the A fragment of the 16x16 sub-tile at (row0, k16*16): matrices are
// (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = a0..a3.
CK_HOST_DEVICE constexpr RowChunk ldmatrix_a_source(int lane, int row0, int k16) {
  return RowChunk{row0 + (lane & 15), 2 * k16 + (lane >> 4)};
}

// ldmatrix.x4 for the B fragments of two n8 tiles starting at n0: matrices are
// (n 0-7, k 0-7) = b0 and (n 0-7, k 8-15) = b1 of tile n0, then the same for tile n0 + 8.
CK_HOST_DEVICE constexpr RowChunk ldmatrix_b_source(int lane, int n0, int k16) {
  return RowChunk{n0 + (lane & 7) + ((lane >> 4) << 3), 2 * k16 + ((lane >> 3) & 1)};
}

// Accumulator element e (0..3) of an m16n8 fp32 tile held by `lane`.
CK_HOST_DEVICE constexpr RowCol accumulator_coord(int lane, int e) {
  return RowCol{(lane >> 2) + ((e >> 1) << 3), ((lane & 3) << 1) + (e & 1)};
}

}  // namespace tc
}  // namespace conv_direct
}  // namespace convkernels
