// Whether fp32 convolutions may use TF32 math: torch's flag for cuDNN convolutions (the one
// F.conv2d follows: torch.backends.cudnn.allow_tf32, or torch.backends.cudnn.conv.fp32_precision
// on newer torch), read the way ATen's own cuDNN convolution reads it. Shared by every
// convolution glue with a TF32 tensor-core path (conv.cpp, winograd.cpp, resize_conv.cpp) so
// they follow one rule.
#pragma once

#include <ATen/Context.h>

#include <optional>
#include <string>

namespace convkernels {
namespace ops {
namespace tf32_detail {

// The getter changed shape across torch versions; the overload matching this torch's getter is
// the one used (the others are templates that are never instantiated), so no version boundary is
// hard-coded:
//   bool allowTF32CuDNN() const                                   one flag for conv and RNN (older torch)
//   bool allowTF32CuDNN(const std::string& op = "") const         per-op fp32_precision API, op "conv"
//   bool allowTF32CuDNN(std::optional<Float32Op> op = {}) const   the same with an enum (2.13, 2.15)
// Where the getter takes an op it is passed: without one the per-op getters warn that the call is
// deprecated and throw when conv and RNN precisions differ.
template <typename Ctx, typename Op>
bool conv_tf32_flag(const Ctx& ctx, bool (Ctx::*)(std::optional<Op>) const) {
  return ctx.allowTF32CuDNN(Op::CONV);
}
template <typename Ctx>
bool conv_tf32_flag(const Ctx& ctx, bool (Ctx::*)(const std::string&) const) {
  return ctx.allowTF32CuDNN(std::string("conv"));
}
template <typename Ctx>
bool conv_tf32_flag(const Ctx& ctx, bool (Ctx::*)() const) {
  return ctx.allowTF32CuDNN();
}

}  // namespace tf32_detail

inline bool cudnn_conv_allows_tf32() {
  const at::Context& ctx = at::globalContext();
  return tf32_detail::conv_tf32_flag(ctx, &at::Context::allowTF32CuDNN);
}

}  // namespace ops
}  // namespace convkernels
