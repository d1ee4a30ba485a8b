// Dense-layout predicates on (sizes, element strides) of 4-D tensors, host-side. Size-1
// dimensions may carry any stride (torch does not normalize them), so they are skipped.
#pragma once

#include <cstdint>

namespace convkernels {

// Dimension orders, innermost first, for logical [N, C, H, W] (or [N, K, P, Q]) tensors.
constexpr int kOrderNCHW[4] = {3, 2, 1, 0};
constexpr int kOrderNHWC[4] = {1, 3, 2, 0};

inline bool is_dense_layout(const int64_t (&sizes)[4], const int64_t* strides, const int (&order)[4]) {
  int64_t expected = 1;
  for (int i = 0; i < 4; ++i) {
    const int d = order[i];
    if (sizes[d] != 1 && strides[d] != expected) return false;
    expected *= sizes[d];
  }
  return true;
}

inline bool same_strides(const int64_t* a, const int64_t* b) {
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

inline bool pointer_aligned(const void* ptr, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

}  // namespace convkernels
