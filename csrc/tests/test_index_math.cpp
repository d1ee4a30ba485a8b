// Host-only checks of the kernels' index math (no GPU, no CUDA headers):
//   g++ -std=c++17 -I csrc/kernels csrc/tests/test_index_math.cpp && ./a.out
// or `python tools/check_kernels.py --host-tests`. Everything is compared with brute force;
// the last test simulates one CTA of the tensor-core conv (cp.async placement, ldmatrix and
// mma.sync fragment semantics as written in the PTX ISA, accumulator staging) on the CPU.
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "batch_norm/welford.h"
#include "common/index_math.h"
#include "conv_direct/conv_geometry.h"
#include "conv_direct/tc_layout.h"

using namespace convkernels;
using namespace convkernels::conv_direct;

namespace {

int g_failures = 0;

#define EXPECT(cond, ...)                                        \
  do {                                                           \
    if (!(cond)) {                                               \
      if (++g_failures <= 20) {                                  \
        std::printf("%s:%d: EXPECT(%s) failed: ", __FILE__, __LINE__, #cond); \
        std::printf(__VA_ARGS__);                                \
        std::printf("\n");                                       \
      }                                                          \
    }                                                            \
  } while (0)

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
};

// What the TC loader computes for every (CTA, thread, load, k tile) vs the definition of the conv.
void test_tc_loader_addressing() {
  constexpr int kThreads = 128;
  for (const ConvCase& cc : kCases) {
    const ConvShape s = make_shape(cc);
    for (int bm : {64, 128}) {
      const int loads = bm * tc::kChunksPerRow / kThreads;
      const int num_k_tiles = ceil_div(s.Kg, tc::kBlockK) + 1;  // one extra: the tail must be masked
      for (int block_m = 0; block_m < s.M + bm; block_m += bm) {
        for (int tid = 0; tid < kThreads; ++tid) {
          const int chunk = tid % tc::kChunksPerRow;
          RowGeometry rows[8];
          for (int i = 0; i < loads; ++i) rows[i] = make_row_geometry(s, block_m + tc::tile_load_source(tid, i, kThreads).row);
          RscCursor cursor;
          cursor.start(chunk * tc::kChunkElems, s.C, s.S);
          for (int kt = 0; kt < num_k_tiles; ++kt) {
            const int kg = kt * tc::kBlockK + chunk * tc::kChunkElems;
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
              EXPECT(valid == want_valid, "case C=%d m=%d kg=%d valid=%d want=%d", s.C, m, kg, valid, want_valid);
              if (valid && want_valid) EXPECT(offset == want_offset, "m=%d kg=%d offset %lld want %lld", m, kg,
                                              (long long)offset, (long long)want_offset);
            }
            cursor.advance(tc::kBlockK, s.C, s.S);
          }
        }
      }
    }
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
  auto conflict_free = [](const int (&off)[8]) {
    std::set<int> groups;
    for (int o : off) groups.insert((o / 16) % 8);
    return groups.size() == 8;
  };
  for (int row0 = 0; row0 < 128; row0 += 16)
    for (int k16 = 0; k16 < 2; ++k16)
      for (int phase = 0; phase < 4; ++phase) {
        int a_off[8], b_off[8];
        for (int j = 0; j < 8; ++j) {
          const tc::RowChunk a = tc::ldmatrix_a_source(phase * 8 + j, row0, k16);
          const tc::RowChunk b = tc::ldmatrix_b_source(phase * 8 + j, row0, k16);
          a_off[j] = tc::swizzled_chunk_offset(a.row, a.chunk);
          b_off[j] = tc::swizzled_chunk_offset(b.row, b.chunk);
        }
        EXPECT(conflict_free(a_off), "ldmatrix A conflict row0=%d k16=%d phase=%d", row0, k16, phase);
        EXPECT(conflict_free(b_off), "ldmatrix B conflict n0=%d k16=%d phase=%d", row0, k16, phase);
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

// ---- PTX ISA fragment definitions (mma.m16n8k16, .f16/.bf16 inputs, .f32 accumulators) ----
// groupID = lane / 4, threadID_in_group = lane % 4; element i of the A fragment (8 halves in
// 4 registers), of B (4 halves in 2 registers) and of C (4 floats).
void a_fragment_coord(int lane, int i, int* row, int* col) {
  *row = lane / 4 + 8 * ((i / 2) % 2);
  *col = 2 * (lane % 4) + (i % 2) + 8 * (i / 4);
}
void b_fragment_coord(int lane, int i, int* k, int* n) {
  *k = 2 * (lane % 4) + (i % 2) + 8 * (i / 2);
  *n = lane / 4;
}
void c_fragment_coord(int lane, int i, int* row, int* col) {
  *row = lane / 4 + 8 * (i / 2);
  *col = 2 * (lane % 4) + (i % 2);
}

// ldmatrix.x4 semantics: lanes 8j..8j+7 give the 16-byte row addresses of matrix j; lane t
// receives row t/4, elements 2*(t%4) and 2*(t%4)+1 of each matrix j in register j.
void simulate_ldmatrix_x4(const std::vector<float>& smem_halves, const int (&row_addr)[32], float (&frag)[32][8]) {
  for (int t = 0; t < 32; ++t)
    for (int j = 0; j < 4; ++j)
      for (int e = 0; e < 2; ++e) frag[t][2 * j + e] = smem_halves[row_addr[8 * j + t / 4] / 2 + 2 * (t % 4) + e];
}

// One CTA of the TC kernel on the CPU: real conv data, loader -> swizzled smem, ldmatrix,
// mma (by the ISA fragment definitions), staging writes; compare with a direct convolution.
void test_tc_cta_simulation() {
  const ConvCase cc = {2, 24, 7, 6, 40, 3, 3, 2, 1, 1, 1, 1, 2};
  const ConvShape s = make_shape(cc);
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
      cursors[tid].start((tid % 4) * 8, s.C, s.S);
      for (int i = 0; i < 2; ++i) rows[tid * 2 + i] = make_row_geometry(s, block_m + tc::tile_load_source(tid, i, kThreads).row);
    }
    for (int kt = 0; kt < ceil_div(s.Kg, tc::kBlockK); ++kt) {
      std::vector<float> a_smem(BM * 32, -1000.f), b_smem(BN * 32, -1000.f);  // in 16-bit element units
      for (int tid = 0; tid < kThreads; ++tid) {
        const int chunk = tid % 4;
        const int kg = kt * tc::kBlockK + chunk * 8;
        for (int i = 0; i < 2; ++i) {
          const tc::RowChunk rc = tc::tile_load_source(tid, i, kThreads);
          int64_t off = 0;
          const bool valid = nhwc_input_offset(s, rows[tid * 2 + i], cursors[tid], &off);
          const int dst = tc::swizzled_chunk_offset(rc.row, rc.chunk) / 2;
          for (int e = 0; e < 8; ++e) a_smem[dst + e] = valid ? input[off + e] : 0.f;
          const int n = block_n + rc.row;
          const bool b_valid = n < s.K && kg < s.Kg;
          for (int e = 0; e < 8; ++e) b_smem[dst + e] = b_valid ? weight[size_t(n) * s.Kg + kg + e] : 0.f;
        }
        cursors[tid].advance(tc::kBlockK, s.C, s.S);
      }
      for (int warp = 0; warp < 4; ++warp) {
        const int warp_row0 = (warp % 2) * kWarpTileM, warp_col0 = (warp / 2) * kWarpTileN;
        for (int k16 = 0; k16 < 2; ++k16) {
          float a_frag[2][32][8], b_frag[4][32][4];
          for (int mt = 0; mt < 2; ++mt) {
            int addr[32];
            for (int l = 0; l < 32; ++l) {
              const tc::RowChunk rc = tc::ldmatrix_a_source(l, warp_row0 + mt * 16, k16);
              addr[l] = tc::swizzled_chunk_offset(rc.row, rc.chunk);
            }
            simulate_ldmatrix_x4(a_smem, addr, a_frag[mt]);
            // The fragment must hold exactly what the ISA says A element i of lane l is.
            for (int l = 0; l < 32; ++l)
              for (int i = 0; i < 8; ++i) {
                int r, c;
                a_fragment_coord(l, i, &r, &c);
                const int row = warp_row0 + mt * 16 + r, k = k16 * 16 + c;
                const float want = a_smem[tc::swizzled_chunk_offset(row, k / 8) / 2 + k % 8];
                EXPECT(a_frag[mt][l][i] == want, "A frag lane %d elem %d", l, i);
              }
          }
          for (int np = 0; np < 2; ++np) {  // one x4 load covers n8 tiles 2*np and 2*np+1
            int addr[32];
            for (int l = 0; l < 32; ++l) {
              const tc::RowChunk rc = tc::ldmatrix_b_source(l, warp_col0 + np * 16, k16);
              addr[l] = tc::swizzled_chunk_offset(rc.row, rc.chunk);
            }
            float pair[32][8];
            simulate_ldmatrix_x4(b_smem, addr, pair);
            for (int l = 0; l < 32; ++l)
              for (int e = 0; e < 4; ++e) {
                b_frag[2 * np][l][e] = pair[l][e];          // registers 0,1
                b_frag[2 * np + 1][l][e] = pair[l][4 + e];  // registers 2,3
              }
          }
          for (int nt = 0; nt < 4; ++nt)
            for (int l = 0; l < 32; ++l)
              for (int i = 0; i < 4; ++i) {
                int k, n;
                b_fragment_coord(l, i, &k, &n);
                const int row = warp_col0 + nt * 8 + n, kk = k16 * 16 + k;
                const float want = b_smem[tc::swizzled_chunk_offset(row, kk / 8) / 2 + kk % 8];
                EXPECT(b_frag[nt][l][i] == want, "B frag nt %d lane %d elem %d", nt, l, i);
              }
          // mma.sync: C[m][n] += sum_k A[m][k] * B[k][n], fragments placed per the ISA.
          for (int mt = 0; mt < 2; ++mt)
            for (int nt = 0; nt < 4; ++nt) {
              float A[16][16], B[16][8];
              for (int l = 0; l < 32; ++l) {
                for (int i = 0; i < 8; ++i) {
                  int r, c;
                  a_fragment_coord(l, i, &r, &c);
                  A[r][c] = a_frag[mt][l][i];
                }
                for (int i = 0; i < 4; ++i) {
                  int k, n;
                  b_fragment_coord(l, i, &k, &n);
                  B[k][n] = b_frag[nt][l][i];
                }
              }
              for (int l = 0; l < 32; ++l)
                for (int i = 0; i < 4; ++i) {
                  int r, c;
                  c_fragment_coord(l, i, &r, &c);
                  float sum = 0.f;
                  for (int k = 0; k < 16; ++k) sum += A[r][k] * B[k][c];
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
          EXPECT(acc[size_t(row) * BN + col] == want, "CTA m=%d k=%d got %g want %g", m, col, acc[size_t(row) * BN + col], want);
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
  test_tc_cta_simulation();
  test_welford();
  if (g_failures != 0) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("all index-math checks passed\n");
  return 0;
}
