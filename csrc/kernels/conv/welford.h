// Welford/Chan running moments (host/device; the host test checks the merge against a
// two-pass computation). count is a float: per-thread and per-slice counts stay < 2^24.
#pragma once

#include "common/index_math.h"

namespace convkernels {

template <typename Acc>
struct Moments {
  Acc count;
  Acc mean;
  Acc m2;  // sum of squared deviations from mean

  CK_HOST_DEVICE static Moments empty() { return Moments{Acc(0), Acc(0), Acc(0)}; }

  // Chan et al.: combine two disjoint sets. Exact when either side is empty.
  CK_HOST_DEVICE void merge(const Moments& other) {
    if (other.count == Acc(0)) return;
    if (count == Acc(0)) {
      *this = other;
      return;
    }
    const Acc total = count + other.count;
    const Acc delta = other.mean - mean;
    const Acc other_fraction = other.count / total;
    mean += delta * other_fraction;
    m2 += other.m2 + delta * delta * count * other_fraction;
    count = total;
  }
};

// Moments of up to kBatch values (the first `valid` entries) computed two-pass in registers,
// so a thread pays one division per batch instead of one per element.
template <int kBatch>
CK_HOST_DEVICE Moments<float> batch_moments(const float (&x)[kBatch], int valid) {
  float sum = 0.f;
  for (int i = 0; i < kBatch; ++i) sum += i < valid ? x[i] : 0.f;
  const float mean = valid > 0 ? sum / float(valid) : 0.f;
  float m2 = 0.f;
  for (int i = 0; i < kBatch; ++i) {
    const float d = i < valid ? x[i] - mean : 0.f;
    m2 += d * d;
  }
  return Moments<float>{float(valid), mean, m2};
}

}  // namespace convkernels
