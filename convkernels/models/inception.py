"""Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture"): 299 input,
factorized n x 1 / 1 x n convs, grid-reduction blocks (Mixed_6a, Mixed_7a), auxiliary head on
the 17x17 grid.

Module names are torchvision's (``Conv2d_1a_3x3``, ``Mixed_5b.branch5x5_1``...), and each
``BasicConv2d`` (conv, bn eps 1e-3, relu) is a :class:`convkernels.nn.ConvBNReLU2d` with the
same ``conv``/``bn`` children, so torchvision's state_dict loads with no key map.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ._registry import register


def basic_conv(cin, cout, kernel_size, stride=1, padding=0, backend=None) -> nn.Module:
    """torchvision's BasicConv2d: conv (no bias) -> BN (eps 1e-3) -> ReLU, fused."""
    return ck_nn.ConvBNReLU2d(cin, cout, kernel_size, stride, padding, bias=False, eps=1e-3,
                              backend=backend)


class _Block(nn.Module):
    """A mixed block: its pool branch (3x3/1 average, or 3x3/2 max for grid reductions) and
    the conv factory."""

    def __init__(self, backend, reduction: bool = False):
        super().__init__()
        self._backend = backend
        self.pool = (MaxPool2d(3, 2, backend=backend) if reduction
                     else AvgPool2d(3, 1, 1, backend=backend))

    def conv(self, cin, cout, kernel_size, stride=1, padding=0) -> nn.Module:
        return basic_conv(cin, cout, kernel_size, stride, padding, self._backend)


class InceptionA(_Block):  # 35x35
    def __init__(self, cin, pool_features, backend=None):
        super().__init__(backend)
        self.branch1x1 = self.conv(cin, 64, 1)
        self.branch5x5_1 = self.conv(cin, 48, 1)
        self.branch5x5_2 = self.conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = self.conv(cin, 64, 1)
        self.branch3x3dbl_2 = self.conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = self.conv(96, 96, 3, padding=1)
        self.branch_pool = self.conv(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(self.pool(x))], 1)


class InceptionB(_Block):  # 35 -> 17 grid reduction
    def __init__(self, cin, backend=None):
        super().__init__(backend, reduction=True)
        self.branch3x3 = self.conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = self.conv(cin, 64, 1)
        self.branch3x3dbl_2 = self.conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = self.conv(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.pool(x)], 1)


class InceptionC(_Block):  # 17x17, 7x7 factorized into 1x7 and 7x1
    def __init__(self, cin, channels_7x7, backend=None):
        super().__init__(backend)
        c7 = channels_7x7
        self.branch1x1 = self.conv(cin, 192, 1)
        self.branch7x7_1 = self.conv(cin, c7, 1)
        self.branch7x7_2 = self.conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = self.conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = self.conv(cin, c7, 1)
        self.branch7x7dbl_2 = self.conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = self.conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = self.conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = self.conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = self.conv(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(self.pool(x))], 1)


class InceptionD(_Block):  # 17 -> 8 grid reduction
    def __init__(self, cin, backend=None):
        super().__init__(backend, reduction=True)
        self.branch3x3_1 = self.conv(cin, 192, 1)
        self.branch3x3_2 = self.conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = self.conv(cin, 192, 1)
        self.branch7x7x3_2 = self.conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = self.conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = self.conv(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, self.pool(x)], 1)


class InceptionE(_Block):  # 8x8, expanded filter bank (1x3 and 3x1 side by side)
    def __init__(self, cin, backend=None):
        super().__init__(backend)
        self.branch1x1 = self.conv(cin, 320, 1)
        self.branch3x3_1 = self.conv(cin, 384, 1)
        self.branch3x3_2a = self.conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = self.conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = self.conv(cin, 448, 1)
        self.branch3x3dbl_2 = self.conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = self.conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = self.conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = self.conv(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d),
            self.branch_pool(self.pool(x))], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin, num_classes, backend=None):
        super().__init__()
        self.pool = AvgPool2d(5, 3, backend=backend)
        self.conv0 = basic_conv(cin, 128, 1, backend=backend)
        self.conv1 = basic_conv(128, 768, 5, backend=backend)
        self.gap = AdaptiveAvgPool2d((1, 1), backend=backend)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.gap(self.conv1(self.conv0(self.pool(x))))
        return self.fc(torch.flatten(x, 1))


class Inception3(nn.Module):
    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, dropout: float = 0.5,
                 backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}

        def conv(*args, **kwargs):
            return basic_conv(*args, **kwargs, backend=backend)
        self.Conv2d_1a_3x3 = conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, 3)
        self.Conv2d_2b_3x3 = conv(32, 64, 3, padding=1)
        self.maxpool1 = MaxPool2d(3, 2, **b)
        self.Conv2d_3b_1x1 = conv(64, 80, 1)
        self.Conv2d_4a_3x3 = conv(80, 192, 3)
        self.maxpool2 = MaxPool2d(3, 2, **b)
        self.Mixed_5b = InceptionA(192, 32, **b)
        self.Mixed_5c = InceptionA(256, 64, **b)
        self.Mixed_5d = InceptionA(288, 64, **b)
        self.Mixed_6a = InceptionB(288, **b)
        self.Mixed_6b = InceptionC(768, 128, **b)
        self.Mixed_6c = InceptionC(768, 160, **b)
        self.Mixed_6d = InceptionC(768, 160, **b)
        self.Mixed_6e = InceptionC(768, 192, **b)
        self.AuxLogits = InceptionAux(768, num_classes, **b) if aux_logits else None
        self.Mixed_7a = InceptionD(768, **b)
        self.Mixed_7b = InceptionE(1280, **b)
        self.Mixed_7c = InceptionE(2048, **b)
        self.avgpool = AdaptiveAvgPool2d((1, 1), **b)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)
        kaiming_init(self)

    def forward(self, x: Tensor):
        for layer in (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3,
                      self.maxpool1, self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, self.maxpool2,
                      self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = layer(x)
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (x, aux) if aux is not None else x


@register("inception_v3", input_size=(3, 299, 299), reference="torchvision:inception_v3",
          reference_kwargs={"aux_logits": True, "init_weights": False}, min_size=75)
def inception_v3(*, num_classes: int = 1000, aux_logits: bool = True, dropout: float = 0.5,
                 backend: Optional[str] = None) -> Inception3:
    """Inception v3 (torchvision layout; loads its state_dict as is). Training mode with
    ``aux_logits`` returns ``(logits, aux)``."""
    return Inception3(num_classes, aux_logits, dropout, backend)
