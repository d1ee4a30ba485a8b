"""DenseNet-BC (Huang et al. 2016): 121/169/201 (growth k=32) and 161 (k=48), bottleneck
``BN-ReLU-1x1(4k)-BN-ReLU-3x3(k)`` layers, transitions ``BN-ReLU-1x1(theta=0.5)-avgpool 2x2``.

Pre-activation means most BNs precede their conv and stay ``torch.nn.BatchNorm2d``; the
conv -> BN -> ReLU runs that do exist are fused: the stem (``conv0/norm0/relu0``) and, in each
layer, the 1x1 with the BN-ReLU that follows it (``conv1/norm2/relu2``). Keys versus
torchvision (``DENSENET_KEY_MAP``): ``features.conv0.weight -> features.conv0.conv.weight``,
``features.norm0.* -> features.conv0.bn.*``, ``denselayerN.conv1.weight ->
denselayerN.conv1.conv.weight``, ``denselayerN.norm2.* -> denselayerN.conv1.bn.*``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ._registry import register

DENSENET_KEY_MAP = (
    (r"^features\.conv0\.weight$", "features.conv0.conv.weight"),
    (r"^features\.norm0\.", "features.conv0.bn."),
    (r"(denselayer\d+)\.conv1\.weight$", r"\1.conv1.conv.weight"),
    (r"(denselayer\d+)\.norm2\.", r"\1.conv1.bn."),
)


class DenseLayer(nn.Module):
    def __init__(self, cin, growth_rate, bn_size, drop_rate, backend=None):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = ck_nn.ConvBNReLU2d(cin, bn_size * growth_rate, 1, bias=False,
                                        backend=backend)
        self.conv2 = ck_nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False,
                                  backend=backend)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, features: list[Tensor]) -> Tensor:
        x = torch.relu(self.norm1(torch.cat(features, 1)))
        return self.drop(self.conv2(self.conv1(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers, cin, bn_size, growth_rate, drop_rate, backend=None):
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(cin + i * growth_rate, growth_rate,
                                                    bn_size, drop_rate, backend)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, cin, cout, backend=None):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = ck_nn.Conv2d(cin, cout, 1, bias=False, backend=backend)
        self.pool = AvgPool2d(2, 2, backend=backend)


class DenseNet(nn.Module):
    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, drop_rate=0.0, num_classes=1000, compression=0.5,
                 backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        self.features = nn.Sequential()
        self.features.add_module("conv0", ck_nn.ConvBNReLU2d(3, num_init_features, 7, 2, 3,
                                                             bias=False, **b))
        self.features.add_module("pool0", MaxPool2d(3, 2, 1, **b))
        c = num_init_features
        for i, n in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     DenseBlock(n, c, bn_size, growth_rate, drop_rate, backend))
            c += n * growth_rate
            if i != len(block_config) - 1:
                cout = int(c * compression)
                self.features.add_module(f"transition{i + 1}", Transition(c, cout, backend))
                c = cout
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.avgpool = AdaptiveAvgPool2d((1, 1), **b)
        self.classifier = nn.Linear(c, num_classes)
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.features(x))
        return self.classifier(torch.flatten(self.avgpool(x), 1))


def _densenet(name, growth_rate, block_config, num_init_features):
    @register(name, reference=f"torchvision:{name}", key_map=DENSENET_KEY_MAP, min_size=32)
    def build(*, num_classes: int = 1000, drop_rate: float = 0.0,
              backend: Optional[str] = None) -> DenseNet:
        return DenseNet(growth_rate, block_config, num_init_features, 4, drop_rate,
                        num_classes, backend=backend)
    build.__name__ = name
    build.__doc__ = f"{name}: DenseNet-BC, k={growth_rate}, blocks {block_config}."
    return build


densenet121 = _densenet("densenet121", 32, (6, 12, 24, 16), 64)
densenet169 = _densenet("densenet169", 32, (6, 12, 32, 32), 64)
densenet201 = _densenet("densenet201", 32, (6, 12, 48, 32), 64)
densenet161 = _densenet("densenet161", 48, (6, 12, 36, 24), 96)
