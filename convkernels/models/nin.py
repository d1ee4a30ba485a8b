"""Network in Network (Lin et al. 2013): mlpconv blocks (a k x k conv followed by two 1x1
convs, each with ReLU), max-pool + dropout between blocks, and global average pooling over
one map per class instead of FC layers. The ImageNet configuration of the d2l
(Dive into Deep Learning) course: 11x11/4 (96) -> 5x5 (256) -> 3x3 (384) -> 3x3 (classes),
224 input.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ._fused import ConvReLU2d
from ._layers import AdaptiveAvgPool2d, MaxPool2d
from ._registry import register


def mlpconv(cin, cout, kernel_size, stride, padding, backend=None) -> nn.Sequential:
    return nn.Sequential(ConvReLU2d(cin, cout, kernel_size, stride, padding, backend=backend),
                         ConvReLU2d(cout, cout, 1, backend=backend),
                         ConvReLU2d(cout, cout, 1, backend=backend))


class NiN(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5,
                 backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        self.features = nn.Sequential(
            mlpconv(3, 96, 11, 4, 0, **b), MaxPool2d(3, 2, **b),
            mlpconv(96, 256, 5, 1, 2, **b), MaxPool2d(3, 2, **b),
            mlpconv(256, 384, 3, 1, 1, **b), MaxPool2d(3, 2, **b), nn.Dropout(dropout),
            mlpconv(384, num_classes, 3, 1, 1, **b))
        self.gap = AdaptiveAvgPool2d((1, 1), **b)

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.gap(self.features(x)), 1)


@register("nin", min_size=96)
def nin(*, num_classes: int = 1000, dropout: float = 0.5,
        backend: Optional[str] = None) -> NiN:
    """Network in Network: mlpconv blocks and global average pooling, no FC layer."""
    return NiN(num_classes, dropout, backend)
