// The one mapping from the runtime DType (what the glue passes) to the element type a kernel is
// instantiated for. A launcher writes
//
//   return dispatch_float_types(dtype, [&](auto tag) {
//     using T = typename decltype(tag)::type;
//     return launch_typed<T>(args, stream);
//   });
//
// and a value outside the enum comes back as cudaErrorInvalidValue, never as a silent no-op.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "common/dtype.h"

namespace convkernels {

template <typename T>
struct ElementTag {
  using type = T;
};

// float, __half or __nv_bfloat16.
template <typename Launch>
cudaError_t dispatch_float_types(DType dtype, Launch&& launch) {
  switch (dtype) {
    case DType::kFloat32:
      return launch(ElementTag<float>{});
    case DType::kFloat16:
      return launch(ElementTag<__half>{});
    case DType::kBFloat16:
      return launch(ElementTag<__nv_bfloat16>{});
  }
  return cudaErrorInvalidValue;
}

// __half or __nv_bfloat16 only, for kernels built on 16-bit mma.sync that have no fp32 variant
// (instantiating one would not compile or would only add dead code); float32 is invalid here.
template <typename Launch>
cudaError_t dispatch_half_types(DType dtype, Launch&& launch) {
  switch (dtype) {
    case DType::kFloat16:
      return launch(ElementTag<__half>{});
    case DType::kBFloat16:
      return launch(ElementTag<__nv_bfloat16>{});
    case DType::kFloat32:
      break;
  }
  return cudaErrorInvalidValue;
}

}  // namespace convkernels
