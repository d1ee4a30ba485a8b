// Host-side mapping of Conv2dParams onto the arguments of the CUTLASS sm_90a implicit-GEMM conv
// (conv_sm90_kernel.cuh), and the predicate saying which problems it takes. No CUTLASS and no
// device code here, so a plain host compiler builds it (csrc/tests/test_conv_sm90_setup.cpp).
//
// CUTLASS's fprop GEMM view: M = (Q, P, N) output pixels, N = K output channels, K = (C, S, R);
// A = activation NHWC, B = filter KRSC, C/D = output NPQK ("NHWC"). Its epilogue strides for an
// NHWC output are ((q, p, n), 1, 0): the channel is the contiguous GEMM-N mode.
#pragma once

#include <cstdint>
#include <limits>

#include "common/dtype.h"
#include "common/layout.h"
#include "conv/conv.h"

namespace convkernels {
namespace conv {
namespace sm90 {

// Limits of the TMA im2col descriptor for 2-D convolutions (PTX ISA / cuTensorMapEncodeIm2col),
// as CUTLASS's CollectiveConv::can_implement checks them, plus the traversal-stride bound that
// the descriptor encoder enforces (elementStrides <= 8) and can_implement does not.
constexpr int64_t kMaxPadding = 256;
constexpr int64_t kCornerMin = -128;  // signed 8-bit corner offsets (16 bits / 2 spatial dims)
constexpr int64_t kCornerMax = 127;
constexpr int64_t kMaxFilterOffset = 254;  // (R - 1) * dilation < 2^8 - 1
constexpr int64_t kMaxTraversalStride = 8;
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// Everything ConvProblemShape<kFprop, 2> and the epilogue need, in CUTLASS's orders.
struct Sm90ConvSetup {
  int shape_act[4] = {0, 0, 0, 0};          // n, h, w, c
  int64_t stride_act[4] = {0, 0, 0, 0};     // n, h, w, c (elements)
  int shape_flt[4] = {0, 0, 0, 0};          // k, r, s, c
  int64_t stride_flt[4] = {0, 0, 0, 0};     // k, r, s, c
  int lower_padding[2] = {0, 0};            // h, w
  int upper_padding[2] = {0, 0};            // h, w
  int traversal_stride[2] = {1, 1};         // h, w
  int dilation[2] = {1, 1};                 // h, w
  int64_t stride_out_qpn[3] = {0, 0, 0};    // epilogue M-mode strides of D (and C = residual)
  // Epilogue-visitor scalars: out = max(beta * residual + acc * scale + shift, lower_bound).
  float beta = 0.f;                         // 1 with a residual; 0 also skips its TMA load
  float lower_bound = 0.f;                  // 0: ReLU; -inf: identity
};

// (P, Q) of CUTLASS's own output-extent formula with symmetric padding; must equal ours.
inline int64_t cutlass_output_extent(int64_t in, int64_t pad_lo, int64_t pad_hi, int64_t filter,
                                     int64_t dil, int64_t stride) {
  return (in + pad_lo + pad_hi - (filter - 1) * dil - 1) / stride + 1;
}

// Empty string when the sm_90a kernel takes these params; otherwise which condition fails.
// Device (compute capability 9.x) and build availability are the caller's to check.
inline const char* conv2d_sm90_refusal(const Conv2dParams& p, DType dtype, int64_t groups = 1) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return "dtype is not float16/bfloat16";
  if (groups != 1) return "groups != 1";
  const int64_t extents[] = {p.N, p.C, p.H, p.W, p.K, p.R, p.S, p.P, p.Q};
  for (int64_t e : extents) {
    if (e < 1 || e > kInt32Max) return "an extent is < 1 or does not fit in 32 bits";
  }
  if (p.N * p.P * p.Q > kInt32Max) return "N*P*Q must be < 2^31";
  // TMA moves 16-byte units: channel rows of input, weight and output must be whole units.
  const int64_t vec = 16 / dtype_size(dtype);
  if (p.C % vec != 0) return "C is not a multiple of 8";
  if (p.K % vec != 0) return "K is not a multiple of 8";
  if (p.input == nullptr || p.weight == nullptr || p.output == nullptr) return "a tensor pointer is null";
  if (!pointer_aligned(p.input, 16) || !pointer_aligned(p.weight, 16) || !pointer_aligned(p.output, 16) ||
      (p.residual != nullptr && !pointer_aligned(p.residual, 16))) {
    return "a tensor base pointer is not 16-byte aligned";
  }
  if (!pointer_aligned(p.scale, alignof(float)) || !pointer_aligned(p.shift, alignof(float))) {
    return "scale/shift are not float-aligned";
  }
  const int64_t in_sizes[4] = {p.N, p.C, p.H, p.W};
  const int64_t wt_sizes[4] = {p.K, p.C, p.R, p.S};
  const int64_t out_sizes[4] = {p.N, p.K, p.P, p.Q};
  if (!is_dense_layout(in_sizes, p.input_strides, kOrderNHWC)) return "input is not dense NHWC";
  if (!is_dense_layout(wt_sizes, p.weight_strides, kOrderNHWC)) return "weight is not dense KRSC";
  if (!is_dense_layout(out_sizes, p.output_strides, kOrderNHWC)) return "output is not dense NHWC";
  if (p.residual != nullptr && !is_dense_layout(out_sizes, p.residual_strides, kOrderNHWC)) {
    return "residual is not dense NHWC";
  }
  const int64_t pads[2] = {p.pad_h, p.pad_w};
  const int64_t filters[2] = {p.R, p.S};
  const int64_t dils[2] = {p.dil_h, p.dil_w};
  const int64_t strides[2] = {p.stride_h, p.stride_w};
  for (int i = 0; i < 2; ++i) {
    if (pads[i] < 0 || pads[i] > kMaxPadding) return "padding outside [0, 256]";
    if (strides[i] < 1 || strides[i] > kMaxTraversalStride) return "stride outside [1, 8]";
    if (dils[i] < 1) return "dilation < 1";
    const int64_t offset = (filters[i] - 1) * dils[i];
    if (offset > kMaxFilterOffset) return "(kernel extent - 1) * dilation exceeds 254";
    // im2col box corners: lower = -pad, upper = pad - (filter - 1) * dilation.
    if (-pads[i] < kCornerMin || pads[i] - offset < kCornerMin || pads[i] - offset > kCornerMax) {
      return "padding / dilated kernel extent outside the im2col corner range [-128, 127]";
    }
  }
  if (cutlass_output_extent(p.H, p.pad_h, p.pad_h, p.R, p.dil_h, p.stride_h) != p.P ||
      cutlass_output_extent(p.W, p.pad_w, p.pad_w, p.S, p.dil_w, p.stride_w) != p.Q) {
    return "P/Q differ from the convolution's output extent";
  }
  return "";
}

inline bool conv2d_sm90_supported(const Conv2dParams& p, DType dtype, int64_t groups = 1) {
  return conv2d_sm90_refusal(p, dtype, groups)[0] == '\0';
}

// Requires conv2d_sm90_supported. Strides are the canonical dense ones (the predicate lets
// size-1 dimensions carry any stride; TMA descriptors need each stride a 16-byte multiple).
inline Sm90ConvSetup make_sm90_conv_setup(const Conv2dParams& p) {
  Sm90ConvSetup s;
  const int64_t C = p.C, K = p.K;
  s.shape_act[0] = int(p.N), s.shape_act[1] = int(p.H), s.shape_act[2] = int(p.W), s.shape_act[3] = int(C);
  s.stride_act[0] = p.H * p.W * C, s.stride_act[1] = p.W * C, s.stride_act[2] = C, s.stride_act[3] = 1;
  s.shape_flt[0] = int(K), s.shape_flt[1] = int(p.R), s.shape_flt[2] = int(p.S), s.shape_flt[3] = int(C);
  s.stride_flt[0] = p.R * p.S * C, s.stride_flt[1] = p.S * C, s.stride_flt[2] = C, s.stride_flt[3] = 1;
  s.lower_padding[0] = s.upper_padding[0] = int(p.pad_h);
  s.lower_padding[1] = s.upper_padding[1] = int(p.pad_w);
  s.traversal_stride[0] = int(p.stride_h), s.traversal_stride[1] = int(p.stride_w);
  s.dilation[0] = int(p.dil_h), s.dilation[1] = int(p.dil_w);
  s.stride_out_qpn[0] = K, s.stride_out_qpn[1] = p.Q * K, s.stride_out_qpn[2] = p.P * p.Q * K;
  s.beta = p.residual != nullptr ? 1.f : 0.f;
  s.lower_bound = p.relu ? 0.f : -std::numeric_limits<float>::infinity();
  return s;
}

}  // namespace sm90
}  // namespace conv
}  // namespace convkernels
