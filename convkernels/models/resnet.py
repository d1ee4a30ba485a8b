"""ResNet-18/34/50/101/152 (He et al. 2015), ResNeXt-50 32x4d / 101 32x8d (Xie et al. 2016:
cardinality as a grouped 3x3 conv) and the pre-activation ResNet v2 (He et al. 2016).

Every ``conv -> bn (-> relu)`` is one :class:`convkernels.nn.ConvBNReLU2d`; the last one of a
v1 block takes the shortcut as its ``residual`` so ``relu(bn(conv(x)) + shortcut)`` is a single
fused op. Keys versus torchvision: ``convN.weight -> convN.conv.weight``, ``bnN.* ->
convN.bn.*``, ``downsample.0/1 -> downsample.conv/bn`` (``RESNET_KEY_MAP``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, MaxPool2d
from ._registry import register

RESNET_KEY_MAP = (
    (r"(^|\.)conv(\d)\.weight$", r"\1conv\2.conv.weight"),
    (r"(^|\.)bn(\d)\.", r"\1conv\2.bn."),
    (r"\.downsample\.0\.", ".downsample.conv."),
    (r"\.downsample\.1\.", ".downsample.bn."),
)


def _cbr(cin, cout, k, stride=1, groups=1, relu=True, backend=None):
    return ck_nn.ConvBNReLU2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False,
                              relu=relu, backend=backend)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1, groups=1, base_width=64, backend=None):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        self.conv1 = _cbr(cin, planes, 3, stride, backend=backend)
        self.conv2 = _cbr(planes, planes, 3, backend=backend)  # relu after the residual add
        self.downsample = (_cbr(cin, planes, 1, stride, relu=False, backend=backend)
                           if stride != 1 or cin != planes else None)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.conv2(self.conv1(x), residual=shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride here, as torchvision "v1.5") -> 1x1 expand (x4)."""
    expansion = 4

    def __init__(self, cin, planes, stride=1, groups=1, base_width=64, backend=None):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        cout = planes * self.expansion
        self.conv1 = _cbr(cin, width, 1, backend=backend)
        self.conv2 = _cbr(width, width, 3, stride, groups=groups, backend=backend)
        self.conv3 = _cbr(width, cout, 1, backend=backend)
        self.downsample = (_cbr(cin, cout, 1, stride, relu=False, backend=backend)
                           if stride != 1 or cin != cout else None)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.conv3(self.conv2(self.conv1(x)), residual=shortcut)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, groups=1, width_per_group=64,
                 backend: Optional[str] = None):
        super().__init__()
        self.conv1 = _cbr(3, 64, 7, stride=2, backend=backend)
        self.maxpool = MaxPool2d(3, 2, 1, backend=backend)
        cin = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stages = []
            for b in range(blocks):
                stride = 2 if (b == 0 and i > 0) else 1
                stages.append(block(cin, planes, stride, groups, width_per_group, backend))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stages))
        self.avgpool = AdaptiveAvgPool2d(1, backend=backend)
        self.fc = nn.Linear(cin, num_classes)
        kaiming_init(self)
        nn.init.uniform_(self.fc.weight, -(1 / cin) ** 0.5, (1 / cin) ** 0.5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---- pre-activation ResNet (v2) -------------------------------------------------------------

class PreActBlock(nn.Module):
    """v2 block: ``bn-relu`` first, the shortcut taken from the pre-activation when it needs a
    projection. The inner ``conv -> bn -> relu`` pairs are fused (conv1 carries bn2)."""

    def __init__(self, cin, planes, stride=1, bottleneck=True, backend=None):
        super().__init__()
        expansion = 4 if bottleneck else 1
        cout = planes * expansion
        self.bn1 = nn.BatchNorm2d(cin)
        if bottleneck:
            self.conv1 = _cbr(cin, planes, 1, backend=backend)
            self.conv2 = _cbr(planes, planes, 3, stride, backend=backend)
            self.conv3 = ck_nn.Conv2d(planes, cout, 1, bias=False, backend=backend)
        else:
            self.conv1 = _cbr(cin, planes, 3, stride, backend=backend)
            self.conv2 = ck_nn.Conv2d(planes, cout, 3, 1, 1, bias=False, backend=backend)
            self.conv3 = None
        self.downsample = (ck_nn.Conv2d(cin, cout, 1, stride, bias=False, backend=backend)
                           if stride != 1 or cin != cout else None)

    def forward(self, x: Tensor) -> Tensor:
        pre = torch.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv2(self.conv1(pre))
        if self.conv3 is not None:
            out = self.conv3(out)
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self, layers, bottleneck=True, num_classes=1000, backend=None):
        super().__init__()
        self.conv1 = ck_nn.Conv2d(3, 64, 7, 2, 3, bias=False, backend=backend)
        self.maxpool = MaxPool2d(3, 2, 1, backend=backend)
        cin, expansion = 64, (4 if bottleneck else 1)
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stages = []
            for b in range(blocks):
                stride = 2 if (b == 0 and i > 0) else 1
                stages.append(PreActBlock(cin, planes, stride, bottleneck, backend))
                cin = planes * expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stages))
        self.bn_final = nn.BatchNorm2d(cin)  # v2: the last block's output is not yet normalized
        self.avgpool = AdaptiveAvgPool2d(1, backend=backend)
        self.fc = nn.Linear(cin, num_classes)
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.relu(self.bn_final(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---- registered builders --------------------------------------------------------------------

def _resnet_v1(name, block, layers, **extra):
    @register(name, reference=f"torchvision:{name}", key_map=RESNET_KEY_MAP, min_size=32)
    def build(*, num_classes: int = 1000, backend: Optional[str] = None) -> ResNet:
        return ResNet(block, layers, num_classes, backend=backend, **extra)
    build.__name__ = name
    build.__doc__ = f"{name} (torchvision layout; keys via RESNET_KEY_MAP)."
    return build


resnet18 = _resnet_v1("resnet18", BasicBlock, (2, 2, 2, 2))
resnet34 = _resnet_v1("resnet34", BasicBlock, (3, 4, 6, 3))
resnet50 = _resnet_v1("resnet50", Bottleneck, (3, 4, 6, 3))
resnet101 = _resnet_v1("resnet101", Bottleneck, (3, 4, 23, 3))
resnet152 = _resnet_v1("resnet152", Bottleneck, (3, 8, 36, 3))
resnext50_32x4d = _resnet_v1("resnext50_32x4d", Bottleneck, (3, 4, 6, 3), groups=32,
                             width_per_group=4)
resnext101_32x8d = _resnet_v1("resnext101_32x8d", Bottleneck, (3, 4, 23, 3), groups=32,
                              width_per_group=8)


def _resnet_v2(name, layers, bottleneck):
    @register(name, min_size=32)
    def build(*, num_classes: int = 1000, backend: Optional[str] = None) -> PreActResNet:
        return PreActResNet(layers, bottleneck, num_classes, backend)
    build.__name__ = name
    build.__doc__ = f"{name}: pre-activation (v2) ResNet; no torchvision twin."
    return build


preact_resnet18 = _resnet_v2("preact_resnet18", (2, 2, 2, 2), False)
preact_resnet34 = _resnet_v2("preact_resnet34", (3, 4, 6, 3), False)
preact_resnet50 = _resnet_v2("preact_resnet50", (3, 4, 6, 3), True)
preact_resnet101 = _resnet_v2("preact_resnet101", (3, 4, 23, 3), True)
preact_resnet152 = _resnet_v2("preact_resnet152", (3, 8, 36, 3), True)
