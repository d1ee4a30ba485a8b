"""Public functional API. Signatures mirror ``torch.nn.functional``; results match it.

Every op takes ``backend=None`` ("cuda" | "triton" | "torch" | "auto"); see
:mod:`convkernels.backends` for how a backend is chosen. Arguments are validated once, in
:mod:`convkernels._checks`, before any backend runs. One module per op family; this file
only gathers their public functions.
"""

from __future__ import annotations

from .conv import conv2d, conv2d_affine, fold_batch_norm, fused_conv_bn_relu
from .local_conv import local_conv2d

__all__ = ["conv2d", "conv2d_affine", "fused_conv_bn_relu", "fold_batch_norm", "local_conv2d"]
