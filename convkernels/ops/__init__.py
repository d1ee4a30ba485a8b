"""Public functional API. Signatures mirror ``torch.nn.functional``; results match it.

Every op takes ``backend=None`` ("cuda" | "triton" | "torch" | "auto"); see
:mod:`convkernels.backends` for how a backend is chosen. Arguments are validated once,
before any backend runs, with one exception: an op that mirrors one torch function
(``conv2d`` with ``algo`` "auto" or "direct", ``depthwise_conv2d``, the max, average and
adaptive pools, ``local_response_norm``) on a call that goes to the torch backend *is* that
function. It calls it with the caller's arguments, so it gives torch's values, strides and
errors, and it takes whatever torch takes (an integer max-pool input, an adaptive output size
of 0), which the kernel backends refuse. Its own checks then run only when torch raises,
to name the bad argument. The exception to the exception: a meta weight or bias beside a CPU
input, which torch's convolution reads as uninitialized memory, is refused.

The fused ops (``conv2d_affine``, ``fused_conv_bn_relu`` with ``algo`` "auto" or "direct",
``resize_conv2d``, ``resize_conv2d_affine``, ``separable_conv2d``, ``local_conv2d``) go
straight to their torch composition on such a call too, but they keep their own contract:
cheap guards send every call that torch would take and their checks refuse (a per-channel
vector or residual that would broadcast, another resize mode, an integer input) to the
checked path, so their errors are the same on every backend.

Each op family is ``<family>.py`` (its public functions), ``<family>_primitives.py`` (its
custom ops, fake kernels and backward formulas) and ``<family>_checks.py`` (its argument
checks); this file only gathers the public functions.
"""

from __future__ import annotations

from .conv import conv2d, conv2d_affine, fold_batch_norm, fused_conv_bn_relu
from .depthwise import depthwise_conv2d, separable_conv2d
from .local_conv import local_conv2d
from .lrn import ALEXNET_LRN, GOOGLENET_LRN, local_response_norm, lrn_max_pool2d
from .pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    global_avg_pool2d,
    max_pool2d,
    max_unpool2d,
    spatial_pyramid_pool,
)
from .resize_conv import fold_nearest_weight, resize_conv2d, resize_conv2d_affine

__all__ = [
    # convolution (algo="direct" | "winograd_2x2" | "winograd_4x4" | "auto"; grouped/depthwise)
    "conv2d", "conv2d_affine", "fused_conv_bn_relu", "fold_batch_norm",
    "depthwise_conv2d", "separable_conv2d", "local_conv2d",
    # resize-convolution (upsample + conv, never materialized)
    "resize_conv2d", "resize_conv2d_affine", "fold_nearest_weight",
    # pooling and LRN
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "global_avg_pool2d", "max_unpool2d", "spatial_pyramid_pool",
    "local_response_norm", "lrn_max_pool2d", "ALEXNET_LRN", "GOOGLENET_LRN",
]
