"""GoogLeNet / Inception v1 (Szegedy et al. 2014) and BN-Inception / Inception v2 (Ioffe &
Szegedy 2015).

* ``googlenet_original``: the paper's net. Convs with bias + ReLU (``ConvReLU2d``), LRN after
  pool1 and after conv2's 3x3, ceil-mode max-pools, 5x5 branches, 7x7 average pool, dropout
  0.4, and the two auxiliary classifiers (on 4a and 4d; avg-pool 5x5/3, 1x1 conv 128, FC 1024,
  dropout 0.7) returned only in training. Per-block weights match the paper's Table 1.
* ``googlenet``: torchvision's variant (BN after every conv as ``ConvBNReLU2d`` with eps 1e-3,
  no LRN, and — as torchvision, faithful to its ported weights — a 3x3 where the paper's
  5x5 branch is). Module names are torchvision's (``BasicConv2d`` there has ``conv``/``bn``,
  as ``ConvBNReLU2d`` here), so its state_dict loads with no key map.
* ``bn_inception``: BN everywhere, every 5x5 as two 3x3, stride-2 inception blocks 3c/4e in
  place of max-pools, average pooling in most pool branches (paper Figure 5).

Training mode with aux heads returns ``(logits, aux2, aux1)`` like torchvision's
``GoogLeNetOutputs`` order (``logits, aux_logits2, aux_logits1``); eval returns logits.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._fused import ConvReLU2d
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, AvgPool2d, LocalResponseNorm, MaxPool2d
from ._registry import register

ConvFactory = Callable[..., nn.Module]  # (cin, cout, kernel_size, stride=1, padding=0)


def bn_conv(backend):
    def make(cin, cout, k, stride=1, padding=0):
        return ck_nn.ConvBNReLU2d(cin, cout, k, stride, padding, bias=False, eps=1e-3,
                                  backend=backend)
    return make


def plain_conv(backend):
    def make(cin, cout, k, stride=1, padding=0):
        return ConvReLU2d(cin, cout, k, stride, padding, backend=backend)
    return make


class Inception(nn.Module):
    """Four branches concatenated: 1x1 | 1x1 -> 3x3 | 1x1 -> kxk | 3x3 max-pool -> 1x1."""

    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 conv: ConvFactory, k5: int = 5, backend=None):
        super().__init__()
        self.branch1 = conv(cin, ch1x1, 1)
        self.branch2 = nn.Sequential(conv(cin, ch3x3red, 1), conv(ch3x3red, ch3x3, 3, 1, 1))
        self.branch3 = nn.Sequential(conv(cin, ch5x5red, 1),
                                     conv(ch5x5red, ch5x5, k5, 1, k5 // 2))
        self.branch4 = nn.Sequential(MaxPool2d(3, 1, 1, ceil_mode=True, backend=backend),
                                     conv(cin, pool_proj, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin, num_classes, conv: ConvFactory, dropout=0.7, backend=None):
        super().__init__()
        self.pool = AdaptiveAvgPool2d((4, 4), backend=backend)  # 14x14: avg-pool 5x5/3
        self.conv = conv(cin, 128, 1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj), paper Table 1
GOOGLENET_BLOCKS = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    def __init__(self, original: bool = True, num_classes: int = 1000, aux_logits: bool = True,
                 dropout: float = 0.4, dropout_aux: float = 0.7,
                 backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        conv = plain_conv(backend) if original else bn_conv(backend)
        k5 = 5 if original else 3
        lrn = (lambda: LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=1.0, **b)) if original \
            else nn.Identity
        self.conv1 = conv(3, 64, 7, 2, 3)
        self.maxpool1 = MaxPool2d(3, 2, ceil_mode=True, **b)
        self.lrn1 = lrn()
        self.conv2 = conv(64, 64, 1)
        self.conv3 = conv(64, 192, 3, 1, 1)
        self.lrn2 = lrn()
        self.maxpool2 = MaxPool2d(3, 2, ceil_mode=True, **b)
        for name, (cin, *chans) in GOOGLENET_BLOCKS.items():
            setattr(self, f"inception{name}", Inception(cin, *chans, conv=conv, k5=k5, **b))
            if name == "3b":
                self.maxpool3 = MaxPool2d(3, 2, ceil_mode=True, **b)
            if name == "4e":
                self.maxpool4 = MaxPool2d(2, 2, ceil_mode=True, **b)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, conv, dropout_aux, **b)
            self.aux2 = InceptionAux(528, num_classes, conv, dropout_aux, **b)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = AdaptiveAvgPool2d((1, 1), **b)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        if original:   # pool1 -> LRN and LRN -> pool2 each run as one fused op
            self.maxpool1 = ck_nn.LRNMaxPool2d(self.lrn1, self.maxpool1, "pool_lrn", **b)
            self.lrn2 = ck_nn.LRNMaxPool2d(self.lrn2, self.maxpool2, "lrn_pool", **b)
            self.lrn1, self.maxpool2 = nn.Identity(), nn.Identity()
        kaiming_init(self)

    def forward(self, x: Tensor):
        x = self.lrn1(self.maxpool1(self.conv1(x)))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if aux1 is not None:
            return x, aux2, aux1
        return x


@register("googlenet", reference="torchvision:googlenet",
          reference_kwargs={"aux_logits": True, "init_weights": True}, min_size=32)
def googlenet(*, num_classes: int = 1000, aux_logits: bool = True, dropout: float = 0.2,
              backend: Optional[str] = None) -> GoogLeNet:
    """torchvision's GoogLeNet (BN, 3x3 in the "5x5" branch); loads its state_dict as is."""
    return GoogLeNet(False, num_classes, aux_logits, dropout, 0.7, backend)


@register("googlenet_original", min_size=32)
def googlenet_original(*, num_classes: int = 1000, aux_logits: bool = True,
                       dropout: float = 0.4, backend: Optional[str] = None) -> GoogLeNet:
    """The paper's GoogLeNet (LRN, bias convs, 5x5 branches, aux heads)."""
    return GoogLeNet(True, num_classes, aux_logits, dropout, 0.7, backend)


# ---- BN-Inception ---------------------------------------------------------------------------

class BNInceptionBlock(nn.Module):
    """Inception-v2 block: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool (-> 1x1). With
    ``stride=2`` the 1x1 branch is absent, the last 3x3 of each branch is strided and the
    pool branch is a plain stride-2 max-pool (grid reduction)."""

    def __init__(self, cin, ch1x1, ch3red, ch3, chd3red, chd3, pool: str, pool_proj,
                 stride=1, backend=None):
        super().__init__()
        conv = bn_conv(backend)
        self.branch1 = conv(cin, ch1x1, 1) if ch1x1 else None
        self.branch2 = nn.Sequential(conv(cin, ch3red, 1), conv(ch3red, ch3, 3, stride, 1))
        self.branch3 = nn.Sequential(conv(cin, chd3red, 1), conv(chd3red, chd3, 3, 1, 1),
                                     conv(chd3, chd3, 3, stride, 1))
        pool_cls = MaxPool2d if pool == "max" else AvgPool2d
        pooling = pool_cls(3, stride, 1, backend=backend)
        self.branch4 = (nn.Sequential(pooling, conv(cin, pool_proj, 1)) if pool_proj
                        else pooling)
        self.out_channels = ch1x1 + ch3 + chd3 + (pool_proj or cin)

    def forward(self, x: Tensor) -> Tensor:
        outs = [self.branch2(x), self.branch3(x), self.branch4(x)]
        if self.branch1 is not None:
            outs.insert(0, self.branch1(x))
        return torch.cat(outs, 1)


# (cin, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj, stride)
BN_INCEPTION_BLOCKS = {
    "3a": (192, 64, 64, 64, 64, 96, "avg", 32, 1),
    "3b": (256, 64, 64, 96, 64, 96, "avg", 64, 1),
    "3c": (320, 0, 128, 160, 64, 96, "max", 0, 2),
    "4a": (576, 224, 64, 96, 96, 128, "avg", 128, 1),
    "4b": (576, 192, 96, 128, 96, 128, "avg", 128, 1),
    "4c": (576, 160, 128, 160, 128, 160, "avg", 128, 1),
    "4d": (608, 96, 128, 192, 160, 192, "avg", 128, 1),
    "4e": (608, 0, 128, 192, 192, 256, "max", 0, 2),
    "5a": (1056, 352, 192, 320, 160, 224, "avg", 128, 1),
    "5b": (1024, 352, 192, 320, 192, 224, "max", 128, 1),
}


class BNInception(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2,
                 backend: Optional[str] = None):
        super().__init__()
        conv, b = bn_conv(backend), {"backend": backend}
        self.stem = nn.Sequential(conv(3, 64, 7, 2, 3), MaxPool2d(3, 2, ceil_mode=True, **b),
                                  conv(64, 64, 1), conv(64, 192, 3, 1, 1),
                                  MaxPool2d(3, 2, ceil_mode=True, **b))
        self.blocks = nn.Sequential(OrderedDict(
            (f"inception{name}", BNInceptionBlock(*spec, **b))
            for name, spec in BN_INCEPTION_BLOCKS.items()))
        self.avgpool = AdaptiveAvgPool2d((1, 1), **b)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.blocks(self.stem(x)))
        return self.fc(self.dropout(torch.flatten(x, 1)))


@register("bn_inception", min_size=32)
def bn_inception(*, num_classes: int = 1000, dropout: float = 0.2,
                 backend: Optional[str] = None) -> BNInception:
    """BN-Inception (Inception v2): BN everywhere, 5x5 factorized into two 3x3."""
    return BNInception(num_classes, dropout, backend)
