// Element types the kernels are instantiated for. Host-only safe (no CUDA headers), so the
// torch glue and the kernels agree on one enum without sharing any torch type.
#pragma once

namespace convkernels {

enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

inline int dtype_size(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

}  // namespace convkernels
