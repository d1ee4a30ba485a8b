// Host-only checks of the kernels' index math (no GPU, no CUDA headers):
//   g++ -std=c++17 -I csrc/kernels csrc/tests/test_index_math.cpp && ./a.out
// or `python tools/check_kernels.py --host-tests`. Everything is compared with brute force;
// the last test simulates one CTA of the tensor-core conv (cp.async placement, ldmatrix and
// mma.sync fragment semantics as written in the PTX ISA, accumulator staging) on the CPU, for
// 16-bit elements (m16n8k16) and for fp32 elements with TF32 math (m16n8k8).
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "host_expect.h"
#include "common/index_math.h"
#include "conv/conv_geometry.h"
#include "conv/tc_layout.h"
#include "conv/welford.h"

using namespace convkernels;
using namespace convkernels::conv;

namespace {

using host_test::g_failures;

void test_fast_divmod() {
  std::mt19937 rng(1234);
  std::vector<int32_t> divisors;
  for (int d = 1; d <= 2048; ++d) divisors.push_back(d);
  for (int i = 0; i < 200; ++i) divisors.push_back(int32_t(rng() % 0x7fffffffu) + 1);
  divisors.push_back(0x7fffffff);
  divisors.push_back(1 << 30);
  divisors.push_back((1 << 30) + 1);
  for (int32_t d : divisors) {
    const FastDivmod fd(d);
    std::vector<int32_t> numerators = {0, 1, d - 1, d, 0x7fffffff, 0x7ffffffe};
    for (int i = 0; i < 64; ++i) numerators.push_back(int32_t(rng() % 0x80000000u));
    for (int k = 1; k < 4; ++k) {  // around multiples of d
      const int64_t mult = int64_t(d) * k * 977;
      if (mult < 0x7fffffff) {
        numerators.push_back(int32_t(mult));
        numerators.push_back(int32_t(mult - 1));
      }
    }
    for (int32_t n : numerators) {
      if (n < 0) continue;
      int32_t q, r;
      fd.divmod(n, q, r);
      EXPECT(q == n / d && r == n % d, "n=%d d=%d got q=%d r=%d", n, d, q, r);
    }
  }
}

void test_output_size() {
  for (int in = 0; in < 20; ++in)
    for (int k = 1; k < 8; ++k)
      for (int stride = 1; stride < 5; ++stride)
        for (int pad = 0; pad < 4; ++pad)
          for (int dil = 1; dil < 4; ++dil) {
            int brute = 0;  // windows whose last tap still lies inside the padded input
            while (int64_t(brute) * stride + int64_t(dil) * (k - 1) <= in + 2 * pad - 1) ++brute;
            const int64_t got = conv_output_size(in, k, stride, pad, dil);
            EXPECT((got <= 0 && brute == 0) || got == brute, "in=%d k=%d s=%d p=%d d=%d got=%lld brute=%d", in,
                   k, stride, pad, dil, (long long)got, brute);
          }
}

struct ConvCase {
  int N, C, H, W, K, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
};

ConvShape make_shape(const ConvCase& c) {
  ConvShape s;
  s.N = c.N, s.C = c.C, s.H = c.H, s.W = c.W, s.K = c.K, s.R = c.R, s.S = c.S;
  s.stride_h = c.stride_h, s.stride_w = c.stride_w, s.pad_h = c.pad_h, s.pad_w = c.pad_w;
  s.dil_h = c.dil_h, s.dil_w = c.dil_w;
  s.P = int(conv_output_size(c.H, c.R, c.stride_h, c.pad_h, c.dil_h));
  s.Q = int(conv_output_size(c.W, c.S, c.stride_w, c.pad_w, c.dil_w));
  s.M = s.N * s.P * s.Q;
  s.Kg = s.C * s.R * s.S;
  s.div_pq = FastDivmod(s.P * s.Q);
  s.div_q = FastDivmod(s.Q);
  s.div_c = FastDivmod(s.C);
  s.div_s = FastDivmod(s.S);
  return s;
}

const ConvCase kCases[] = {
    {2, 8, 9, 7, 16, 3, 3, 1, 1, 1, 1, 1, 1},    {1, 16, 11, 13, 24, 5, 3, 2, 1, 2, 0, 1, 2},
    {3, 24, 8, 8, 8, 1, 1, 1, 1, 0, 0, 1, 1},    {2, 8, 15, 15, 40, 7, 7, 4, 4, 3, 3, 1, 1},
    {1, 64, 6, 5, 72, 3, 3, 2, 2, 1, 1, 2, 2},   {2, 40, 4, 4, 8, 2, 3, 1, 2, 1, 2, 3, 1},
    {1, 8, 1, 1, 8, 1, 1, 1, 1, 0, 0, 1, 1},     {2, 32, 12, 10, 64, 11, 11, 4, 4, 2, 2, 1, 1},
    // C % 4 == 0 but not % 8: only the fp32 (TF32) kernel takes these.
    {2, 4, 9, 7, 16, 3, 3, 1, 1, 1, 1, 1, 1},    {1, 12, 6, 5, 24, 5, 3, 2, 1, 2, 0, 2, 1},
    {2, 20, 5, 5, 8, 1, 1, 1, 1, 0, 0, 1, 1},    {1, 4, 7, 7, 8, 7, 7, 2, 2, 3, 3, 1, 1},
};

// The two element sizes of the TC kernel: 16-bit (fp16/bf16, mma k16) and 32-bit (fp32 data, TF32 mma k8).
constexpr int kElemBytes[] = {2, 4};

// What the TC loader computes for every (CTA, thread, load, k tile) vs the definition of the conv.
void test_tc_loader_addressing() {
  constexpr int kThreads = 128;
  for (const int eb : kElemBytes) {
    const int block_k = tc::block_k(eb), chunk_elems = tc::chunk_elems(eb);
    for (const ConvCase& cc : kCases) {
      if (cc.C % chunk_elems != 0) continue;  // conv2d_tc_supported refuses these
      const ConvShape s = make_shape(cc);
      for (int bm : {64, 128}) {
        const int loads = bm * tc::kChunksPerRow / kThreads;
        const int num_k_tiles = ceil_div(s.Kg, block_k) + 1;  // one extra: the tail must be masked
        for (int block_m = 0; block_m < s.M + bm; block_m += bm) {
          for (int tid = 0; tid < kThreads; ++tid) {
            const int chunk = tid % tc::kChunksPerRow;
            RowGeometry rows[8];
            for (int i = 0; i < loads; ++i) rows[i] = make_row_geometry(s, block_m + tc::tile_load_source(tid, i, kThreads).row);
            RscCursor cursor;
            cursor.start(chunk * chunk_elems, s.C, s.S);
            for (int kt = 0; kt < num_k_tiles; ++kt) {
              const int kg = kt * block_k + chunk * chunk_elems;
              // A chunk never straddles two taps, and the reduction tail is whole chunks.
              EXPECT(kg / s.C == (kg + chunk_elems - 1) / s.C, "eb=%d C=%d kg=%d straddles taps", eb, s.C, kg);
              for (int i = 0; i < loads; ++i) {
                const int m = block_m + tc::tile_load_source(tid, i, kThreads).row;
                int64_t offset = 0;
                const bool valid = nhwc_input_offset(s, rows[i], cursor, &offset);
                bool want_valid = m < s.M && kg < s.Kg;
                int64_t want_offset = -1;
                if (want_valid) {
                  const int n = m / (s.P * s.Q), p = (m / s.Q) % s.P, q = m % s.Q;
                  const int r = kg / (s.S * s.C), sx = (kg / s.C) % s.S, c = kg % s.C;
                  const int h = p * s.stride_h - s.pad_h + r * s.dil_h;
                  const int w = q * s.stride_w - s.pad_w + sx * s.dil_w;
                  want_valid = h >= 0 && h < s.H && w >= 0 && w < s.W;
                  want_offset = ((int64_t(n) * s.H + h) * s.W + w) * s.C + c;
                }
                EXPECT(valid == want_valid, "eb=%d C=%d m=%d kg=%d valid=%d want=%d", eb, s.C, m, kg, valid, want_valid);
                if (valid && want_valid) EXPECT(offset == want_offset, "eb=%d m=%d kg=%d offset %lld want %lld", eb, m,
                                                kg, (long long)offset, (long long)want_offset);
              }
              cursor.advance(block_k, s.C, s.S);
            }
          }
        }
      }
    }
  }
  for (const ConvCase& cc : kCases) {
    const ConvShape s = make_shape(cc);
    // Generic kernel's division-based decomposition.
    for (int kg = 0; kg < s.Kg; ++kg) {
      const RscIndex k = decompose_reduction_index(s, kg);
      EXPECT(k.r == kg / (s.S * s.C) && k.s == (kg / s.C) % s.S && k.c == kg % s.C, "kg=%d", kg);
    }
    for (int m = 0; m < s.M; ++m) {
      const OutputPixel px = decompose_output_row(s, m);
      EXPECT(px.n == m / (s.P * s.Q) && px.p == (m / s.Q) % s.P && px.q == m % s.Q, "m=%d", m);
    }
  }
}

void test_swizzle_and_tile_coverage() {
  for (int rows : {64, 128}) {
    std::set<int> offsets;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < tc::kChunksPerRow; ++c) {
        const int off = tc::swizzled_chunk_offset(r, c);
        EXPECT(off % 16 == 0 && off >= 0 && off < rows * tc::kRowBytes, "row %d chunk %d -> %d", r, c, off);
        offsets.insert(off);
      }
    EXPECT(int(offsets.size()) == rows * tc::kChunksPerRow, "swizzle is not a bijection for %d rows", rows);
    // Every (row, chunk) of a tile is copied exactly once by the 128 threads.
    std::set<std::pair<int, int>> copied;
    const int loads = rows * tc::kChunksPerRow / 128;
    for (int tid = 0; tid < 128; ++tid)
      for (int i = 0; i < loads; ++i) {
        const tc::RowChunk rc = tc::tile_load_source(tid, i, 128);
        EXPECT(rc.row < rows, "tid %d load %d row %d", tid, i, rc.row);
        copied.insert({rc.row, rc.chunk});
      }
    EXPECT(int(copied.size()) == rows * tc::kChunksPerRow, "tile coverage %zu", copied.size());
  }
  // Bank conflicts: a 16-byte-per-lane shared access is served in phases of 8 lanes; the 8
  // addresses of a phase must fall in 8 different 16-byte bank groups (offset / 16 mod 8).
  // The addresses do not depend on the element size, so this covers fp16/bf16 and TF32 alike.
  auto conflict_free = [](const int (&off)[8]) {
    std::set<int> groups;
    for (int o : off) groups.insert((o / 16) % 8);
    return groups.size() == 8;
  };
  for (int row0 = 0; row0 < 128; row0 += 16)
    for (int kstep = 0; kstep < tc::kKStepsPerStage; ++kstep)
      for (int phase = 0; phase < 4; ++phase) {
        int a_off[8], b_off[8];
        for (int j = 0; j < 8; ++j) {
          const tc::RowChunk a = tc::ldmatrix_a_source(phase * 8 + j, row0, kstep);
          const tc::RowChunk b = tc::ldmatrix_b_source(phase * 8 + j, row0, kstep);
          a_off[j] = tc::swizzled_chunk_offset(a.row, a.chunk);
          b_off[j] = tc::swizzled_chunk_offset(b.row, b.chunk);
        }
        EXPECT(conflict_free(a_off), "ldmatrix A conflict row0=%d kstep=%d phase=%d", row0, kstep, phase);
        EXPECT(conflict_free(b_off), "ldmatrix B conflict n0=%d kstep=%d phase=%d", row0, kstep, phase);
      }
  for (int i = 0; i < 4; ++i)
    for (int phase = 0; phase < 16; ++phase) {  // cp.async stores: 8 consecutive threads per phase
      int off[8];
      for (int j = 0; j < 8; ++j) {
        const tc::RowChunk rc = tc::tile_load_source(phase * 8 + j, i, 128);
        off[j] = tc::swizzled_chunk_offset(rc.row, rc.chunk);
      }
      EXPECT(conflict_free(off), "cp.async store conflict load %d phase %d", i, phase);
    }
}

// ---- PTX ISA fragment definitions, fp32 accumulators ----
// groupID = lane / 4, threadID_in_group = lane % 4. Element i of a lane's A and B fragments:
//   m16n8k16 .f16/.bf16: A 8 halves in 4 registers (2 per register), B 4 halves in 2;
//   m16n8k8 .tf32:       A 4 values in 4 registers, B 2 values in 2.
// Element i lives in register i / (elements per register), in order.
struct MmaShape {
  int elem_bytes;  // 2: m16n8k16, 4: m16n8k8 tf32
  int k() const { return elem_bytes == 2 ? 16 : 8; }
  int per_reg() const { return 4 / elem_bytes; }
  int a_elems() const { return 4 * per_reg(); }
  int b_elems() const { return 2 * per_reg(); }
  void a_coord(int lane, int i, int* row, int* col) const {
    if (elem_bytes == 2) {
      *row = lane / 4 + 8 * ((i / 2) % 2);
      *col = 2 * (lane % 4) + (i % 2) + 8 * (i / 4);
    } else {
      *row = lane / 4 + 8 * (i % 2);
      *col = lane % 4 + 4 * (i / 2);
    }
  }
  void b_coord(int lane, int i, int* k, int* n) const {
    *k = elem_bytes == 2 ? 2 * (lane % 4) + (i % 2) + 8 * (i / 2) : lane % 4 + 4 * i;
    *n = lane / 4;
  }
};
void c_fragment_coord(int lane, int i, int* row, int* col) {
  *row = lane / 4 + 8 * (i / 2);
  *col = 2 * (lane % 4) + (i % 2);
}

// ldmatrix.x4 (.b16) semantics: lanes 8j..8j+7 give the 16-byte row addresses of matrix j; lane t
// receives in register j the 4 bytes at 4*(t%4) of row t/4 of matrix j (two 16-bit elements, low
// first, or one 32-bit element). smem holds one float per element of `elem_bytes` bytes; frag[t]
// lists the elements of lane t in register order.
void simulate_ldmatrix_x4(const std::vector<float>& smem, int elem_bytes, const int (&row_addr)[32],
                          float (&frag)[32][8]) {
  const int per_reg = 4 / elem_bytes;
  for (int t = 0; t < 32; ++t)
    for (int j = 0; j < 4; ++j)
      for (int e = 0; e < per_reg; ++e)
        frag[t][per_reg * j + e] = smem[(row_addr[8 * j + t / 4] + 4 * (t % 4)) / elem_bytes + e];
}

// One CTA of the TC kernel on the CPU: real conv data, loader -> swizzled smem, ldmatrix,
// mma (by the ISA fragment definitions), staging writes; compare with a direct convolution.
// Small integers keep every sum exact, so the comparison is ==.
void test_tc_cta_simulation(const ConvCase& cc, int elem_bytes) {
  const ConvShape s = make_shape(cc);
  const MmaShape mma{elem_bytes};
  const int block_k = tc::block_k(elem_bytes), chunk_elems = tc::chunk_elems(elem_bytes);
  constexpr int BM = 64, BN = 64, kThreads = 128, kWarpTileM = 32, kWarpTileN = 32;
  std::mt19937 rng(7);
  std::vector<float> input(size_t(s.N) * s.H * s.W * s.C), weight(size_t(s.K) * s.Kg);
  for (float& v : input) v = float(int(rng() % 7) - 3);
  for (float& v : weight) v = float(int(rng() % 5) - 2);

  for (int block_m = 0; block_m < s.M; block_m += BM) {
    const int block_n = 0;
    std::vector<float> acc(size_t(BM) * BN, 0.f);  // staging image, [row][col]
    float warp_acc[4][32][2][4][4] = {};             // [warp][lane][mt][nt][e]
    RscCursor cursors[kThreads];
    std::vector<RowGeometry> rows(kThreads * 2);
    for (int tid = 0; tid < kThreads; ++tid) {
      cursors[tid].start((tid % 4) * chunk_elems, s.C, s.S);
      for (int i = 0; i < 2; ++i) rows[tid * 2 + i] = make_row_geometry(s, block_m + tc::tile_load_source(tid, i, kThreads).row);
    }
    for (int kt = 0; kt < ceil_div(s.Kg, block_k); ++kt) {
      std::vector<float> a_smem(BM * block_k, -1000.f), b_smem(BN * block_k, -1000.f);  // one float per element
      for (int tid = 0; tid < kThreads; ++tid) {
        const int chunk = tid % 4;
        const int kg = kt * block_k + chunk * chunk_elems;
        for (int i = 0; i < 2; ++i) {
          const tc::RowChunk rc = tc::tile_load_source(tid, i, kThreads);
          int64_t off = 0;
          const bool valid = nhwc_input_offset(s, rows[tid * 2 + i], cursors[tid], &off);
          const int dst = tc::swizzled_chunk_offset(rc.row, rc.chunk) / elem_bytes;
          for (int e = 0; e < chunk_elems; ++e) a_smem[dst + e] = valid ? input[off + e] : 0.f;
          const int n = block_n + rc.row;
          const bool b_valid = n < s.K && kg < s.Kg;
          for (int e = 0; e < chunk_elems; ++e) b_smem[dst + e] = b_valid ? weight[size_t(n) * s.Kg + kg + e] : 0.f;
        }
        cursors[tid].advance(block_k, s.C, s.S);
      }
      // Element (row, k) of a stage tile, wherever the swizzle put it.
      auto smem_at = [&](const std::vector<float>& tile, int row, int k) {
        return tile[tc::swizzled_chunk_offset(row, k / chunk_elems) / elem_bytes + k % chunk_elems];
      };
      for (int warp = 0; warp < 4; ++warp) {
        const int warp_row0 = (warp % 2) * kWarpTileM, warp_col0 = (warp / 2) * kWarpTileN;
        for (int kstep = 0; kstep < tc::kKStepsPerStage; ++kstep) {
          float a_frag[2][32][8], b_frag[4][32][4];
          for (int mt = 0; mt < 2; ++mt) {
            int addr[32];
            for (int l = 0; l < 32; ++l) {
              const tc::RowChunk rc = tc::ldmatrix_a_source(l, warp_row0 + mt * 16, kstep);
              addr[l] = tc::swizzled_chunk_offset(rc.row, rc.chunk);
            }
            simulate_ldmatrix_x4(a_smem, elem_bytes, addr, a_frag[mt]);
            // The fragment must hold exactly what the ISA says A element i of lane l is.
            for (int l = 0; l < 32; ++l)
              for (int i = 0; i < mma.a_elems(); ++i) {
                int r, c;
                mma.a_coord(l, i, &r, &c);
                const float want = smem_at(a_smem, warp_row0 + mt * 16 + r, kstep * mma.k() + c);
                EXPECT(a_frag[mt][l][i] == want, "eb=%d A frag lane %d elem %d", elem_bytes, l, i);
              }
          }
          for (int np = 0; np < 2; ++np) {  // one x4 load covers n8 tiles 2*np and 2*np+1
            int addr[32];
            for (int l = 0; l < 32; ++l) {
              const tc::RowChunk rc = tc::ldmatrix_b_source(l, warp_col0 + np * 16, kstep);
              addr[l] = tc::swizzled_chunk_offset(rc.row, rc.chunk);
            }
            float pair[32][8];
            simulate_ldmatrix_x4(b_smem, elem_bytes, addr, pair);
            for (int l = 0; l < 32; ++l)
              for (int e = 0; e < mma.b_elems(); ++e) {
                b_frag[2 * np][l][e] = pair[l][e];                    // registers 0,1
                b_frag[2 * np + 1][l][e] = pair[l][mma.b_elems() + e];  // registers 2,3
              }
          }
          for (int nt = 0; nt < 4; ++nt)
            for (int l = 0; l < 32; ++l)
              for (int i = 0; i < mma.b_elems(); ++i) {
                int k, n;
                mma.b_coord(l, i, &k, &n);
                const float want = smem_at(b_smem, warp_col0 + nt * 8 + n, kstep * mma.k() + k);
                EXPECT(b_frag[nt][l][i] == want, "eb=%d B frag nt %d lane %d elem %d", elem_bytes, nt, l, i);
              }
          // mma.sync: C[m][n] += sum_k A[m][k] * B[k][n], fragments placed per the ISA.
          for (int mt = 0; mt < 2; ++mt)
            for (int nt = 0; nt < 4; ++nt) {
              float A[16][16], B[16][8];
              for (int l = 0; l < 32; ++l) {
                for (int i = 0; i < mma.a_elems(); ++i) {
                  int r, c;
                  mma.a_coord(l, i, &r, &c);
                  A[r][c] = a_frag[mt][l][i];
                }
                for (int i = 0; i < mma.b_elems(); ++i) {
                  int k, n;
                  mma.b_coord(l, i, &k, &n);
                  B[k][n] = b_frag[nt][l][i];
                }
              }
              for (int l = 0; l < 32; ++l)
                for (int i = 0; i < 4; ++i) {
                  int r, c;
                  c_fragment_coord(l, i, &r, &c);
                  float sum = 0.f;
                  for (int k = 0; k < mma.k(); ++k) sum += A[r][k] * B[k][c];
                  warp_acc[warp][l][mt][nt][i] += sum;
                }
            }
        }
      }
    }
    // Staging writes exactly as the kernel does them (accumulator_coord), then compare.
    for (int warp = 0; warp < 4; ++warp) {
      const int warp_row0 = (warp % 2) * kWarpTileM, warp_col0 = (warp / 2) * kWarpTileN;
      for (int l = 0; l < 32; ++l)
        for (int mt = 0; mt < 2; ++mt)
          for (int nt = 0; nt < 4; ++nt)
            for (int e = 0; e < 4; ++e) {
              const tc::RowCol rc = tc::accumulator_coord(l, e);
              int r, c;
              c_fragment_coord(l, e, &r, &c);
              EXPECT(rc.row == r && rc.col == c, "accumulator_coord lane %d e %d", l, e);
              acc[size_t(warp_row0 + mt * 16 + rc.row) * BN + warp_col0 + nt * 8 + rc.col] = warp_acc[warp][l][mt][nt][e];
            }
    }
    for (int row = 0; row < BM; ++row) {
      const int m = block_m + row;
      if (m >= s.M) continue;
      const int n = m / (s.P * s.Q), p = (m / s.Q) % s.P, q = m % s.Q;
      for (int wc = 0; wc < 2; ++wc)
        for (int col = wc * kWarpTileN; col < (wc + 1) * kWarpTileN && col < s.K; ++col) {
          float want = 0.f;
          for (int r = 0; r < s.R; ++r)
            for (int sx = 0; sx < s.S; ++sx)
              for (int c = 0; c < s.C; ++c) {
                const int h = p * s.stride_h - s.pad_h + r * s.dil_h, w = q * s.stride_w - s.pad_w + sx * s.dil_w;
                if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                want += input[((size_t(n) * s.H + h) * s.W + w) * s.C + c] * weight[size_t(col) * s.Kg + (r * s.S + sx) * s.C + c];
              }
          EXPECT(acc[size_t(row) * BN + col] == want, "eb=%d CTA m=%d k=%d got %g want %g", elem_bytes, m, col,
                 acc[size_t(row) * BN + col], want);
        }
    }
  }
}

void test_welford() {
  std::mt19937 rng(99);
  std::normal_distribution<double> dist(1000.0, 0.5);  // large mean: naive E[x^2]-E[x]^2 would cancel
  std::vector<float> x(1037);
  for (float& v : x) v = float(dist(rng));
  double mean = 0, m2 = 0;
  for (float v : x) mean += v;
  mean /= x.size();
  for (float v : x) m2 += (v - mean) * (v - mean);
  Moments<float> acc = Moments<float>::empty();
  Moments<float> lanes[8] = {};
  for (size_t i = 0; i < x.size(); i += 4 * 8) {  // 8 "threads" with batches of 4, like the kernels
    for (int t = 0; t < 8; ++t) {
      float batch[4];
      int valid = 0;
      for (int j = 0; j < 4; ++j) {
        const size_t idx = i + t + 8 * j;
        batch[j] = idx < x.size() ? x[idx] : 0.f;
        valid += idx < x.size();
      }
      lanes[t].merge(batch_moments<4>(batch, valid));
    }
  }
  for (const auto& lane : lanes) acc.merge(lane);
  EXPECT(acc.count == float(x.size()), "count %g", acc.count);
  EXPECT(std::abs(acc.mean - mean) < 1e-4, "mean %g want %g", acc.mean, mean);
  EXPECT(std::abs(acc.m2 / acc.count - m2 / x.size()) < 1e-3 * (m2 / x.size()), "var %g want %g",
         acc.m2 / acc.count, m2 / x.size());
}

}  // namespace

int main() {
  test_fast_divmod();
  test_output_size();
  test_tc_loader_addressing();
  test_swizzle_and_tile_coverage();
  test_tc_cta_simulation({2, 24, 7, 6, 40, 3, 3, 2, 1, 1, 1, 1, 2}, 2);  // fp16/bf16: m16n8k16
  test_tc_cta_simulation({2, 24, 7, 6, 40, 3, 3, 2, 1, 1, 1, 1, 2}, 4);  // fp32 data, TF32: m16n8k8
  test_tc_cta_simulation({2, 12, 5, 6, 40, 3, 3, 1, 2, 1, 1, 2, 1}, 4);  // C % 8 != 0 (TF32 only)
  test_welford();
  if (g_failures != 0) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("all index-math checks passed\n");
  return 0;
}
