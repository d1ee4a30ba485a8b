// Runs the real local_conv kernel (csrc/kernels/local_conv) through its launcher on the CPU
// emulator (emulate_kernels.py builds it) and compares with a float64 loop over the definition.
// Input and output layouts: dense, channels_last, sliced, misaligned, expanded batch. Test-only.
#include "emu_test.h"
#include "local_conv/local_conv.h"

using namespace convkernels;
using namespace emu;

namespace {

struct LocalCase {
  const char* name;
  DType dtype;
  int N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw;
  Layout input_layout, output_layout;
  bool bias;
};

void run_local(const LocalCase& tc) {
  const std::string name = std::string(tc.name) + "/" + dtype_name(tc.dtype);
  const int64_t P = conv_output_size(tc.H, tc.R, tc.sh, tc.ph, tc.dh);
  const int64_t Q = conv_output_size(tc.W, tc.S, tc.sw, tc.pw, tc.dw);
  Tensor4 input = make_tensor(tc.dtype, tc.N, tc.C, tc.H, tc.W, tc.input_layout);
  // [P*Q, K, C, R*S] dense is the kernel's [P*Q, K, J] with J in (c, r, s) order.
  Tensor4 weight = make_tensor(tc.dtype, P * Q, tc.K, tc.C, int64_t(tc.R) * tc.S, Layout::kNCHW);
  Tensor4 bias = make_tensor(tc.dtype, 1, tc.K, P, Q, Layout::kNCHW);
  Tensor4 output = make_tensor(tc.dtype, tc.N, tc.K, P, Q, tc.output_layout);
  fill_random(input);
  fill_random(weight, -2, 2);
  fill_random(bias, -8, 8);

  LocalConv2dParams p;
  p.input = input.data();
  p.weight = weight.data();
  p.bias = tc.bias ? bias.data() : nullptr;
  p.output = output.data();
  p.N = tc.N, p.C = tc.C, p.H = tc.H, p.W = tc.W, p.K = tc.K, p.R = tc.R, p.S = tc.S, p.P = P, p.Q = Q;
  p.stride_h = tc.sh, p.stride_w = tc.sw, p.pad_h = tc.ph, p.pad_w = tc.pw, p.dil_h = tc.dh, p.dil_w = tc.dw;
  std::memcpy(p.input_strides, input.strides, sizeof(p.input_strides));
  std::memcpy(p.output_strides, output.strides, sizeof(p.output_strides));
  if (launch_local_conv2d(p, tc.dtype, nullptr) != cudaSuccess) {
    ++g_checks, ++g_failures;
    std::printf("FAIL %s: launch failed\n", name.c_str());
    return;
  }
  for (int n = 0; n < tc.N; ++n)
    for (int k = 0; k < tc.K; ++k)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t qq = 0; qq < Q; ++qq) {
          const int64_t pos = pp * Q + qq;
          double ref = tc.bias ? bias.get(0, k, pp, qq) : 0.0;
          for (int c = 0; c < tc.C; ++c)
            for (int r = 0; r < tc.R; ++r)
              for (int s = 0; s < tc.S; ++s) {
                const int64_t h = pp * tc.sh - tc.ph + r * tc.dh, w = qq * tc.sw - tc.pw + s * tc.dw;
                if (h < 0 || h >= tc.H || w < 0 || w >= tc.W) continue;
                ref += double(input.get(n, c, h, w)) * double(weight.get(pos, k, c, r * tc.S + s));
              }
          expect_close("out", name, output.get(n, k, pp, qq), ref, tolerance(tc.dtype, ref));
        }
}

}  // namespace

int main() {
  const DType dtypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  for (DType dt : dtypes) {
    // N and K beyond one 32 tile, J (= C*R*S) not a multiple of the 32-wide reduction tile.
    run_local({"dense", dt, 35, 3, 7, 6, 33, 3, 3, 1, 1, 0, 0, 1, 1, Layout::kNCHW, Layout::kNCHW, true});
    run_local({"nhwc-strided-padded", dt, 2, 5, 9, 9, 4, 3, 2, 2, 1, 1, 0, 1, 1, Layout::kNHWC, Layout::kNHWC, true});
    run_local({"dilated-no-bias", dt, 3, 2, 8, 8, 6, 2, 2, 1, 2, 0, 1, 2, 1, Layout::kNCHW, Layout::kNHWC, false});
  }
  // Layouts the glue passes through without copies (fp32: exact comparisons are tightest).
  run_local({"sliced", DType::kFloat32, 2, 4, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, Layout::kSliced, Layout::kNCHW, true});
  run_local({"misaligned", DType::kFloat16, 2, 4, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, Layout::kMisaligned,
             Layout::kNHWCOffset2, true});
  run_local({"expanded-batch", DType::kBFloat16, 3, 2, 5, 5, 2, 5, 5, 1, 1, 0, 0, 1, 1, Layout::kExpandedN,
             Layout::kNCHW, true});
  // DeepFace L6-like: 16 -> 16 channels, 5x5 filters, 9x9 input (5x5 output), batch 1.
  run_local({"deepface-l6-small", DType::kFloat16, 1, 16, 9, 9, 16, 5, 5, 1, 1, 0, 0, 1, 1, Layout::kNHWC,
             Layout::kNHWC, true});
  return finish("run_local_conv");
}
