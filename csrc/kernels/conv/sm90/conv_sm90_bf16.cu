// sm_90a CUTLASS conv fprop, bfloat16 instantiation (see conv_sm90_kernel.cuh).
#include "conv/sm90/conv_sm90_kernel.cuh"

CK_DEFINE_CONV2D_SM90(DType::kBFloat16)
