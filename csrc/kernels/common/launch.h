// Host-side helpers shared by the kernel launchers. Launchers report errors as cudaError_t
// (never throw): the torch glue turns a non-success status into a TORCH_CHECK failure.
#pragma once

#include <cuda_runtime_api.h>

namespace convkernels {

// Status of the launch just issued (configuration errors, missing kernel image, ...).
inline cudaError_t launch_status() { return cudaGetLastError(); }

inline cudaError_t current_device_attribute(cudaDeviceAttr attr, int* value) {
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  return cudaDeviceGetAttribute(value, attr, device);
}

// Number of SMs of the current device; 1 if the query fails (only used for grid sizing).
inline int current_device_sm_count() {
  int sms = 0;
  if (current_device_attribute(cudaDevAttrMultiProcessorCount, &sms) != cudaSuccess || sms <= 0) {
    cudaGetLastError();  // a failed query must not leak into the next launch check
    return 1;
  }
  return sms;
}

inline int current_device_compute_major() {
  int major = 0;
  if (current_device_attribute(cudaDevAttrComputeCapabilityMajor, &major) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return major;
}

}  // namespace convkernels
