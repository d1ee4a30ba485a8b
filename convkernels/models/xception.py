"""Xception (Chollet 2016): depthwise separable convolutions (depthwise k x k then pointwise
1x1) in residual blocks, entry / middle (8 blocks) / exit flows.

Structure and names follow timm's ``legacy_xception``; the differences are fusions, listed in
``XCEPTION_KEY_MAP``: the stem's ``convN/bnN/actN`` are ``ConvBNReLU2d`` (``convN.conv.*``,
``convN.bn.*``), each block's projection shortcut ``skip/skipbn`` is one ``ConvBNReLU2d``
without ReLU (``skip.conv.*``, ``skip.bn.*``) that also adds the residual branch in its
epilogue, and each separable conv is a ``convkernels.nn.SeparableConv2d`` whose depthwise
conv is ``depthwise`` (timm: ``conv1``) next to ``pointwise``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, MaxPool2d, SeparableConv2d
from ._registry import register

XCEPTION_KEY_MAP = (
    (r"^conv([12])\.weight$", r"conv\1.conv.weight"),
    (r"^bn([12])\.", r"conv\1.bn."),
    (r"\.skip\.weight$", ".skip.conv.weight"),
    (r"\.skipbn\.", ".skip.bn."),
    (r"(^|\.)(conv[34]|rep\.\d+)\.conv1\.weight$", r"\1\2.depthwise.weight"),
)


class Block(nn.Module):
    def __init__(self, cin, cout, reps, stride=1, start_with_relu=True, grow_first=True,
                 backend=None):
        super().__init__()
        self.skip = (ck_nn.ConvBNReLU2d(cin, cout, 1, stride, bias=False, relu=False,
                                        backend=backend)
                     if cout != cin or stride != 1 else None)
        rep: list[nn.Module] = []
        for i in range(reps):
            if grow_first:
                inc, outc = (cin if i == 0 else cout), cout
            else:
                inc, outc = cin, (cin if i < reps - 1 else cout)
            rep += [nn.ReLU(inplace=i > 0),  # the first must not overwrite the block input
                    SeparableConv2d(inc, outc, 3, 1, 1, backend=backend), nn.BatchNorm2d(outc)]
        if not start_with_relu:
            rep = rep[1:]
        if stride != 1:
            rep.append(MaxPool2d(3, stride, 1, backend=backend))
        self.rep = nn.Sequential(*rep)

    def forward(self, x: Tensor) -> Tensor:
        out = self.rep(x)
        return out + x if self.skip is None else self.skip(x, residual=out)


class Xception(nn.Module):
    def __init__(self, num_classes: int = 1000, drop_rate: float = 0.0,
                 backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        self.conv1 = ck_nn.ConvBNReLU2d(3, 32, 3, 2, bias=False, **b)
        self.conv2 = ck_nn.ConvBNReLU2d(32, 64, 3, bias=False, **b)
        self.block1 = Block(64, 128, 2, 2, start_with_relu=False, **b)
        self.block2 = Block(128, 256, 2, 2, **b)
        self.block3 = Block(256, 728, 2, 2, **b)
        for i in range(4, 12):  # middle flow
            setattr(self, f"block{i}", Block(728, 728, 3, 1, **b))
        self.block12 = Block(728, 1024, 2, 2, grow_first=False, **b)
        self.conv3 = SeparableConv2d(1024, 1536, 3, 1, 1, **b)
        self.bn3 = nn.BatchNorm2d(1536)
        self.conv4 = SeparableConv2d(1536, 2048, 3, 1, 1, **b)
        self.bn4 = nn.BatchNorm2d(2048)
        self.global_pool = AdaptiveAvgPool2d(1, **b)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(2048, num_classes)
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv2(self.conv1(x))
        for i in range(1, 13):
            x = getattr(self, f"block{i}")(x)
        x = torch.relu(self.bn3(self.conv3(x)))
        x = torch.relu(self.bn4(self.conv4(x)))
        return self.fc(self.drop(torch.flatten(self.global_pool(x), 1)))


@register("xception", input_size=(3, 299, 299), reference="timm:legacy_xception",
          key_map=XCEPTION_KEY_MAP, min_size=71)
def xception(*, num_classes: int = 1000, drop_rate: float = 0.0,
             backend: Optional[str] = None) -> Xception:
    """Xception (timm ``legacy_xception`` layout; keys via XCEPTION_KEY_MAP)."""
    return Xception(num_classes, drop_rate, backend)
