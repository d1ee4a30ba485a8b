"""VGG (Simonyan & Zisserman 2014), the paper's configurations A, A-LRN, B, C, D, E, each
optionally with BatchNorm (``batch_norm=True``, torchvision's ``vgg*_bn``).

Layout mirrors torchvision's ``features`` / ``avgpool`` / ``classifier`` Sequentials index for
index: without BN a ``conv, relu`` pair is ``ConvReLU2d, Identity`` (ReLU fused into the
conv's epilogue) and torchvision keys load unchanged; with BN the ``conv, bn, relu`` triple is
``ConvBNReLU2d, Identity, Identity`` and the key map moves ``features.{i}.* ->
features.{i}.conv.*``, ``features.{i+1}.* -> features.{i}.bn.*``.

Config C is D with the third conv of blocks 3-5 a 1x1 (paper Table 1); A-LRN is A with a
LocalResponseNorm after the first conv (paper: it did not help). No torchvision twin for
either.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._fused import ConvReLU2d
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, LocalResponseNorm, MaxPool2d
from ._registry import register

# entries: out channels of a 3x3 conv, "1:<c>" for a 1x1 conv, "M" max-pool, "LRN"
CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1:256", "M", 512, 512, "1:512", "M",
          512, 512, "1:512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_features(cfg, batch_norm: bool, backend: Optional[str]) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d(2, 2, backend=backend))
        elif v == "LRN":  # Krizhevsky's constants (the paper reuses them)
            layers.append(LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0, backend=backend))
        else:
            k, cout = (1, int(v[2:])) if isinstance(v, str) else (3, v)
            if batch_norm:
                layers += [ck_nn.ConvBNReLU2d(cin, cout, k, padding=k // 2, backend=backend),
                           nn.Identity(), nn.Identity()]
            else:
                layers += [ConvReLU2d(cin, cout, k, padding=k // 2, backend=backend),
                           nn.Identity()]
            cin = cout
    return nn.Sequential(*layers)


def bn_key_map(cfg) -> tuple[tuple[str, str], ...]:
    """torchvision ``vgg*_bn`` keys -> ours (see module docstring)."""
    rules, i = [], 0
    for v in cfg:
        if v in ("M", "LRN"):
            i += 1
            continue
        rules += [(rf"^features\.{i}\.(weight|bias)$", rf"features.{i}.conv.\1"),
                  (rf"^features\.{i + 1}\.", rf"features.{i}.bn.")]
        i += 3
    return tuple(rules)


class VGG(nn.Module):
    def __init__(self, cfg: str = "D", batch_norm: bool = False, num_classes: int = 1000,
                 dropout: float = 0.5, backend: Optional[str] = None):
        super().__init__()
        self.features = make_features(CONFIGS[cfg], batch_norm, backend)
        self.avgpool = AdaptiveAvgPool2d((7, 7), backend=backend)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _vgg(name, cfg, batch_norm, tv_name=None):
    @register(name, reference=f"torchvision:{tv_name}" if tv_name else None,
              key_map=bn_key_map(CONFIGS[cfg]) if batch_norm else (), min_size=32)
    def build(*, num_classes: int = 1000, dropout: float = 0.5,
              backend: Optional[str] = None) -> VGG:
        return VGG(cfg, batch_norm, num_classes, dropout, backend)
    build.__name__ = name
    build.__doc__ = f"VGG configuration {cfg}{' with BatchNorm' if batch_norm else ''}."
    return build


vgg11 = _vgg("vgg11", "A", False, "vgg11")
vgg11_lrn = _vgg("vgg11_lrn", "A-LRN", False)
vgg13 = _vgg("vgg13", "B", False, "vgg13")
vgg16_c = _vgg("vgg16_c", "C", False)
vgg16 = _vgg("vgg16", "D", False, "vgg16")
vgg19 = _vgg("vgg19", "E", False, "vgg19")
vgg11_bn = _vgg("vgg11_bn", "A", True, "vgg11_bn")
vgg13_bn = _vgg("vgg13_bn", "B", True, "vgg13_bn")
vgg16_c_bn = _vgg("vgg16_c_bn", "C", True)
vgg16_bn = _vgg("vgg16_bn", "D", True, "vgg16_bn")
vgg19_bn = _vgg("vgg19_bn", "E", True, "vgg19_bn")
