"""Which convkernels op each layer of a network calls, and pointing a whole network at one
backend where that backend can run each layer (``auto`` elsewhere).

A network built with ``backend="cuda"`` fails on its first layer with no CUDA kernel (a
grouped conv, say): an explicit backend never falls back. For benchmarking "our kernels
wherever we have them", :func:`prefer_backend` sets ``backend`` per layer instead.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .. import backends
from .. import nn as ck_nn


def layer_op(module: nn.Module, training: bool = False) -> Optional[tuple[str, int]]:
    """``(op name, groups)`` of the convkernels op this layer calls, or None."""
    if isinstance(module, ck_nn.ConvBNReLU2d):
        return ("fused_conv_bn_relu" if training else "conv2d_affine", module.conv.groups)
    if isinstance(module, ck_nn.Subsampling2d):
        return "conv2d_affine", module.channels
    if isinstance(module, ck_nn.LocallyConnected2d):
        return "local_conv2d", 1
    if isinstance(module, ck_nn.PartialConv2d):
        return "conv2d", 1
    if isinstance(module, ck_nn.ResizeConv2d):
        return "resize_conv2d", 1
    if isinstance(module, ck_nn.Conv2d):  # incl. ConvReLU2d (conv2d_affine, same support)
        return ("conv2d_affine" if type(module).__name__ == "ConvReLU2d" else "conv2d",
                module.groups)
    for cls, op in _POOL_AND_NORM_OPS:
        if isinstance(module, cls):
            return op, 1
    return None


# Layers of the pooling/LRN and separable families, by the registry op they call.
_POOL_AND_NORM_OPS = (
    (ck_nn.LRNMaxPool2d, "lrn_max_pool2d"),
    (ck_nn.MaxPool2d, "max_pool2d"),
    (ck_nn.AvgPool2d, "avg_pool2d"),
    (ck_nn.AdaptiveAvgPool2d, "adaptive_avg_pool2d"),
    (ck_nn.AdaptiveMaxPool2d, "adaptive_max_pool2d"),
    (ck_nn.SpatialPyramidPool2d, "adaptive_max_pool2d"),
    (ck_nn.MaxUnpool2d, "max_unpool2d"),
    (ck_nn.LocalResponseNorm, "local_response_norm"),
    (ck_nn.SeparableConv2d, "separable_conv2d"),
)


def prefer_backend(model: nn.Module, backend: str, device, dtype: torch.dtype,
                   training: bool = False) -> dict[str, str]:
    """Set each layer's ``backend`` to ``backend`` where it can run that layer, else "auto".
    Returns ``{layer name: backend set}`` for the layers that have a ``backend``."""
    chosen = {}
    for name, m in model.named_modules():
        if not hasattr(m, "backend"):
            continue
        op = layer_op(m, training)
        if op is None:  # a layer convkernels cannot tell: let auto decide per call
            m.backend = "auto"
        else:
            call = backends.Call(op[0], torch.device(device), dtype, op[1], training)
            m.backend = backend if not backends.backend_problem(backend, call) else "auto"
        chosen[name] = m.backend
    return chosen
