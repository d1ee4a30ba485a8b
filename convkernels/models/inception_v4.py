"""Inception v4 and Inception-ResNet-v2 (Szegedy et al. 2016).

Module names follow timm's ``inception_v4`` / ``inception_resnet_v2``; timm's ``ConvNormAct``
(``conv``, ``bn`` with BN eps 1e-3, ReLU) is :class:`convkernels.nn.ConvBNReLU2d` with the
same child names, so both state_dicts load with no key map. The residual blocks' closing
``relu(conv1x1(branches) * scale + x)`` is one ``conv2d_affine`` call (scale on the
accumulator, ``bias * scale`` as shift, the block input as residual); the 1x1's parameters
keep timm's ``conv2d.weight`` / ``conv2d.bias`` names.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from .. import ops
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ._registry import register


def _conv(backend):
    def make(cin, cout, kernel_size, stride=1, padding=0):
        return ck_nn.ConvBNReLU2d(cin, cout, kernel_size, stride, padding, bias=False,
                                  eps=1e-3, backend=backend)
    return make


def _seq(*layers):
    return nn.Sequential(*layers)


class _Concat(nn.Module):
    """Branches ``branch0..`` applied to the same input, concatenated on channels."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([b(x) for name, b in self.named_children() if name.startswith("branch")],
                         1)


# ---- Inception v4 ---------------------------------------------------------------------------

class Mixed3a(nn.Module):
    def __init__(self, backend=None):
        super().__init__()
        self.maxpool = MaxPool2d(3, 2, backend=backend)
        self.conv = _conv(backend)(64, 96, 3, 2)

    def forward(self, x):
        return torch.cat([self.maxpool(x), self.conv(x)], 1)


class Mixed4a(_Concat):
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = _seq(c(160, 64, 1), c(64, 96, 3))
        self.branch1 = _seq(c(160, 64, 1), c(64, 64, (1, 7), 1, (0, 3)),
                            c(64, 64, (7, 1), 1, (3, 0)), c(64, 96, 3))


class Mixed5a(nn.Module):
    def __init__(self, backend=None):
        super().__init__()
        self.conv = _conv(backend)(192, 192, 3, 2)
        self.maxpool = MaxPool2d(3, 2, backend=backend)

    def forward(self, x):
        return torch.cat([self.conv(x), self.maxpool(x)], 1)


def _avg_pool(backend):
    return AvgPool2d(3, 1, 1, count_include_pad=False, backend=backend)


class InceptionA(_Concat):  # 35x35, 384 -> 384
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = c(384, 96, 1)
        self.branch1 = _seq(c(384, 64, 1), c(64, 96, 3, 1, 1))
        self.branch2 = _seq(c(384, 64, 1), c(64, 96, 3, 1, 1), c(96, 96, 3, 1, 1))
        self.branch3 = _seq(_avg_pool(backend), c(384, 96, 1))


class ReductionA(_Concat):  # 35 -> 17, k=192 l=224 m=256 n=384
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = c(384, 384, 3, 2)
        self.branch1 = _seq(c(384, 192, 1), c(192, 224, 3, 1, 1), c(224, 256, 3, 2))
        self.branch2 = MaxPool2d(3, 2, backend=backend)


class InceptionB(_Concat):  # 17x17, 1024 -> 1024
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = c(1024, 384, 1)
        self.branch1 = _seq(c(1024, 192, 1), c(192, 224, (1, 7), 1, (0, 3)),
                            c(224, 256, (7, 1), 1, (3, 0)))
        self.branch2 = _seq(c(1024, 192, 1), c(192, 192, (7, 1), 1, (3, 0)),
                            c(192, 224, (1, 7), 1, (0, 3)), c(224, 224, (7, 1), 1, (3, 0)),
                            c(224, 256, (1, 7), 1, (0, 3)))
        self.branch3 = _seq(_avg_pool(backend), c(1024, 128, 1))


class ReductionB(_Concat):  # 17 -> 8
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = _seq(c(1024, 192, 1), c(192, 192, 3, 2))
        self.branch1 = _seq(c(1024, 256, 1), c(256, 256, (1, 7), 1, (0, 3)),
                            c(256, 320, (7, 1), 1, (3, 0)), c(320, 320, 3, 2))
        self.branch2 = MaxPool2d(3, 2, backend=backend)


class InceptionC(nn.Module):  # 8x8, 1536 -> 1536
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = c(1536, 256, 1)
        self.branch1_0 = c(1536, 384, 1)
        self.branch1_1a = c(384, 256, (1, 3), 1, (0, 1))
        self.branch1_1b = c(384, 256, (3, 1), 1, (1, 0))
        self.branch2_0 = c(1536, 384, 1)
        self.branch2_1 = c(384, 448, (3, 1), 1, (1, 0))
        self.branch2_2 = c(448, 512, (1, 3), 1, (0, 1))
        self.branch2_3a = c(512, 256, (1, 3), 1, (0, 1))
        self.branch2_3b = c(512, 256, (3, 1), 1, (1, 0))
        self.branch3 = _seq(_avg_pool(backend), c(1536, 256, 1))

    def forward(self, x):
        b1 = self.branch1_0(x)
        b2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return torch.cat([self.branch0(x), self.branch1_1a(b1), self.branch1_1b(b1),
                          self.branch2_3a(b2), self.branch2_3b(b2), self.branch3(x)], 1)


class InceptionV4(nn.Module):
    def __init__(self, num_classes: int = 1000, drop_rate: float = 0.0,
                 backend: Optional[str] = None):
        super().__init__()
        c, b = _conv(backend), {"backend": backend}
        self.features = _seq(
            c(3, 32, 3, 2), c(32, 32, 3), c(32, 64, 3, 1, 1), Mixed3a(**b), Mixed4a(**b),
            Mixed5a(**b), *[InceptionA(**b) for _ in range(4)], ReductionA(**b),
            *[InceptionB(**b) for _ in range(7)], ReductionB(**b),
            *[InceptionC(**b) for _ in range(3)])
        self.global_pool = AdaptiveAvgPool2d(1, **b)
        self.head_drop = nn.Dropout(drop_rate)
        self.last_linear = nn.Linear(1536, num_classes)
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.global_pool(self.features(x)), 1)
        return self.last_linear(self.head_drop(x))


@register("inception_v4", input_size=(3, 299, 299), reference="timm:inception_v4",
          min_size=75)
def inception_v4(*, num_classes: int = 1000, drop_rate: float = 0.0,
                 backend: Optional[str] = None) -> InceptionV4:
    """Inception v4 (timm layout; loads timm's state_dict as is)."""
    return InceptionV4(num_classes, drop_rate, backend)


# ---- Inception-ResNet-v2 --------------------------------------------------------------------

class _ScaledResidual(nn.Module):
    """``act(conv2d(cat(branches)) * scale + x)`` with the 1x1 ``conv2d`` fused in one op."""

    def __init__(self, cin, cout, scale, relu, backend):
        super().__init__()
        self.scale, self.relu, self.backend = scale, relu, backend
        self.conv2d = nn.Conv2d(cin, cout, 1)

    def branches(self, x: Tensor) -> list[Tensor]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        w, bias = self.conv2d.weight, self.conv2d.bias
        scale = torch.full_like(bias, self.scale)
        return ops.conv2d_affine(torch.cat(self.branches(x), 1), w, scale, bias * self.scale,
                                 relu=self.relu, residual=x, backend=self.backend)


class Block35(_ScaledResidual):  # 35x35, 320 -> 320
    def __init__(self, scale=1.0, backend=None):
        super().__init__(128, 320, scale, True, backend)
        c = _conv(backend)
        self.branch0 = c(320, 32, 1)
        self.branch1 = _seq(c(320, 32, 1), c(32, 32, 3, 1, 1))
        self.branch2 = _seq(c(320, 32, 1), c(32, 48, 3, 1, 1), c(48, 64, 3, 1, 1))

    def branches(self, x):
        return [self.branch0(x), self.branch1(x), self.branch2(x)]


class Block17(_ScaledResidual):  # 17x17, 1088 -> 1088
    def __init__(self, scale=1.0, backend=None):
        super().__init__(384, 1088, scale, True, backend)
        c = _conv(backend)
        self.branch0 = c(1088, 192, 1)
        self.branch1 = _seq(c(1088, 128, 1), c(128, 160, (1, 7), 1, (0, 3)),
                            c(160, 192, (7, 1), 1, (3, 0)))

    def branches(self, x):
        return [self.branch0(x), self.branch1(x)]


class Block8(_ScaledResidual):  # 8x8, 2080 -> 2080
    def __init__(self, scale=1.0, relu=True, backend=None):
        super().__init__(448, 2080, scale, relu, backend)
        c = _conv(backend)
        self.branch0 = c(2080, 192, 1)
        self.branch1 = _seq(c(2080, 192, 1), c(192, 224, (1, 3), 1, (0, 1)),
                            c(224, 256, (3, 1), 1, (1, 0)))

    def branches(self, x):
        return [self.branch0(x), self.branch1(x)]


class Mixed5b(_Concat):
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = c(192, 96, 1)
        self.branch1 = _seq(c(192, 48, 1), c(48, 64, 5, 1, 2))
        self.branch2 = _seq(c(192, 64, 1), c(64, 96, 3, 1, 1), c(96, 96, 3, 1, 1))
        self.branch3 = _seq(_avg_pool(backend), c(192, 64, 1))


class Mixed6a(_Concat):
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = c(320, 384, 3, 2)
        self.branch1 = _seq(c(320, 256, 1), c(256, 256, 3, 1, 1), c(256, 384, 3, 2))
        self.branch2 = MaxPool2d(3, 2, backend=backend)


class Mixed7a(_Concat):
    def __init__(self, backend=None):
        super().__init__()
        c = _conv(backend)
        self.branch0 = _seq(c(1088, 256, 1), c(256, 384, 3, 2))
        self.branch1 = _seq(c(1088, 256, 1), c(256, 288, 3, 2))
        self.branch2 = _seq(c(1088, 256, 1), c(256, 288, 3, 1, 1), c(288, 320, 3, 2))
        self.branch3 = MaxPool2d(3, 2, backend=backend)


class InceptionResNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, drop_rate: float = 0.0,
                 backend: Optional[str] = None):
        super().__init__()
        c, b = _conv(backend), {"backend": backend}
        self.conv2d_1a = c(3, 32, 3, 2)
        self.conv2d_2a = c(32, 32, 3)
        self.conv2d_2b = c(32, 64, 3, 1, 1)
        self.maxpool_3a = MaxPool2d(3, 2, **b)
        self.conv2d_3b = c(64, 80, 1)
        self.conv2d_4a = c(80, 192, 3)
        self.maxpool_5a = MaxPool2d(3, 2, **b)
        self.mixed_5b = Mixed5b(**b)
        self.repeat = _seq(*[Block35(0.17, **b) for _ in range(10)])
        self.mixed_6a = Mixed6a(**b)
        self.repeat_1 = _seq(*[Block17(0.10, **b) for _ in range(20)])
        self.mixed_7a = Mixed7a(**b)
        self.repeat_2 = _seq(*[Block8(0.20, **b) for _ in range(9)])
        self.block8 = Block8(relu=False, **b)
        self.conv2d_7b = c(2080, 1536, 1)
        self.global_pool = AdaptiveAvgPool2d(1, **b)
        self.head_drop = nn.Dropout(drop_rate)
        self.classif = nn.Linear(1536, num_classes)
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        for name in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b",
                     "conv2d_4a", "maxpool_5a", "mixed_5b", "repeat", "mixed_6a", "repeat_1",
                     "mixed_7a", "repeat_2", "block8", "conv2d_7b"):
            x = getattr(self, name)(x)
        x = torch.flatten(self.global_pool(x), 1)
        return self.classif(self.head_drop(x))


@register("inception_resnet_v2", input_size=(3, 299, 299),
          reference="timm:inception_resnet_v2", min_size=75)
def inception_resnet_v2(*, num_classes: int = 1000, drop_rate: float = 0.0,
                        backend: Optional[str] = None) -> InceptionResNetV2:
    """Inception-ResNet-v2 (timm layout; loads timm's state_dict as is)."""
    return InceptionResNetV2(num_classes, drop_rate, backend)
