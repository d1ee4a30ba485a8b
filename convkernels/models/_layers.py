"""The layers the model zoo takes from outside ``convkernels.nn.Conv2d``/``ConvBNReLU2d``.

Pooling, LRN, separable and resize convolutions are being added to :mod:`convkernels.nn` by
other op families. Every network imports them from here, and only from here: each name is
``convkernels.nn``'s module when it exists, otherwise ``torch.nn``'s (or, where torch has
none, a small torch composition below marked *until convkernels.nn provides it*). All of
them accept ``backend=`` (ignored by the torch fallbacks) so a network passes its backend
through uniformly, and the state_dict keys are the same either way (none of these hold
parameters except SeparableConv2d / ResizeConv2d, whose keys follow the convs they hold).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import nn as ck_nn

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "MaxUnpool2d", "LocalResponseNorm",
           "SpatialPyramidPool2d", "SeparableConv2d", "ResizeConv2d"]


def _from_convkernels_or(name: str, torch_cls: type) -> type:
    """``convkernels.nn.<name>`` if it exists, else ``torch_cls`` taking (and ignoring) backend."""
    ours = getattr(ck_nn, name, None)
    if ours is not None:
        return ours

    class TorchFallback(torch_cls):
        def __init__(self, *args, backend: Optional[str] = None, **kwargs):
            super().__init__(*args, **kwargs)

    TorchFallback.__name__ = TorchFallback.__qualname__ = torch_cls.__name__
    return TorchFallback


MaxPool2d = _from_convkernels_or("MaxPool2d", nn.MaxPool2d)
AvgPool2d = _from_convkernels_or("AvgPool2d", nn.AvgPool2d)
AdaptiveAvgPool2d = _from_convkernels_or("AdaptiveAvgPool2d", nn.AdaptiveAvgPool2d)
MaxUnpool2d = _from_convkernels_or("MaxUnpool2d", nn.MaxUnpool2d)
LocalResponseNorm = _from_convkernels_or("LocalResponseNorm", nn.LocalResponseNorm)


class _TorchSpatialPyramidPool2d(nn.Module):
    """Until convkernels.nn provides it: max-pool into ``n x n`` bins for each ``n`` in
    ``levels`` (adaptive bins, so any input size works) and concatenate the flattened bins:
    ``(N, C, H, W) -> (N, C * sum(n * n))``, channel-major within each level."""

    def __init__(self, levels=(1, 2, 4), backend: Optional[str] = None):
        super().__init__()
        self.levels = tuple(int(n) for n in levels)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([F.adaptive_max_pool2d(x, n).flatten(1) for n in self.levels], 1)

    def extra_repr(self) -> str:
        return f"levels={self.levels}"


class _TorchSeparableConv2d(nn.Module):
    """Until convkernels.nn provides it: depthwise ``k x k`` conv (``conv1``, groups =
    in_channels) then pointwise 1x1 (``pointwise``), the key names timm's legacy Xception
    uses."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=1, stride=1,
                 padding=0, dilation=1, bias: bool = False, backend: Optional[str] = None):
        super().__init__()
        self.conv1 = ck_nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding,
                                  dilation, groups=in_channels, bias=bias, backend=backend)
        self.pointwise = ck_nn.Conv2d(in_channels, out_channels, 1, bias=bias, backend=backend)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.conv1(x))


class _TorchResizeConv2d(nn.Module):
    """Until convkernels.nn provides it: upsample by ``scale_factor`` (``mode`` nearest or
    bilinear) then a stride-1 conv (``conv``) — Odena et al.'s fix for the checkerboard
    artifacts of transposed convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 scale_factor: int = 2, mode: str = "nearest", bias: bool = True,
                 backend: Optional[str] = None):
        super().__init__()
        self.scale_factor, self.mode = scale_factor, mode
        self.conv = ck_nn.Conv2d(in_channels, out_channels, kernel_size,
                                 padding=kernel_size // 2, bias=bias, backend=backend)

    def forward(self, x: Tensor) -> Tensor:
        align = False if self.mode == "bilinear" else None
        x = F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode,
                          align_corners=align)
        return self.conv(x)


SpatialPyramidPool2d = getattr(ck_nn, "SpatialPyramidPool2d", _TorchSpatialPyramidPool2d)
SeparableConv2d = getattr(ck_nn, "SeparableConv2d", _TorchSeparableConv2d)
ResizeConv2d = getattr(ck_nn, "ResizeConv2d", _TorchResizeConv2d)
