"""AlexNet (Krizhevsky et al. 2012) and ZFNet (Zeiler & Fergus 2013).

``alexnet`` is torchvision's single-tower AlexNet (224 input, 64-192-384-256-256 convs);
``alexnet_original`` is the paper's two-tower net (227 input, 96-256-384-384-256, groups=2
on conv2/4/5 standing for the two GPUs, LRN after the ReLUs of conv1 and conv2, overlapping
3x3/2 max-pools): 227 -> 55 -> 27 -> 13 -> 13 -> 13 -> 6. ``zfnet`` is ZFNet: 7x7/2 first
conv, dense (no groups), 224 -> 110 -> 55 -> 26 -> 13 -> 6.

Layout: ``features`` / ``avgpool`` / ``classifier`` Sequentials like torchvision's; each
``conv, relu`` pair is ``ConvReLU2d, Identity`` (ReLU in the conv epilogue) so torchvision's
keys load unchanged.

LRN constants: the paper's ``b = a / (k + alpha * sum a^2)^beta`` with n=5, alpha=1e-4,
beta=0.75, k=2. ``torch.nn.LocalResponseNorm`` divides alpha by n, so it gets alpha=5e-4.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ._fused import ConvReLU2d
from ._init import kaiming_init
from ._layers import AdaptiveAvgPool2d, LocalResponseNorm, MaxPool2d
from ._registry import register

LRN_ALPHA_TORCH = 1e-4 * 5  # paper alpha 1e-4, times torch's 1/n


def _classifier(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(in_features, 4096), nn.ReLU(True),
        nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(True),
        nn.Linear(4096, num_classes))


class AlexNet(nn.Module):
    """torchvision's AlexNet (``variant="torchvision"``), the paper's (``"original"``) or
    ZFNet (``"zfnet"``): same skeleton, different feature stacks."""

    def __init__(self, variant: str = "torchvision", num_classes: int = 1000,
                 dropout: float = 0.5, backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}

        def lrn():
            return LocalResponseNorm(5, alpha=LRN_ALPHA_TORCH, beta=0.75, k=2.0, **b)

        if variant == "torchvision":
            layers = [ConvReLU2d(3, 64, 11, 4, 2, **b), nn.Identity(), MaxPool2d(3, 2, **b),
                      ConvReLU2d(64, 192, 5, padding=2, **b), nn.Identity(), MaxPool2d(3, 2, **b),
                      ConvReLU2d(192, 384, 3, padding=1, **b), nn.Identity(),
                      ConvReLU2d(384, 256, 3, padding=1, **b), nn.Identity(),
                      ConvReLU2d(256, 256, 3, padding=1, **b), nn.Identity(), MaxPool2d(3, 2, **b)]
            self.avgpool = AdaptiveAvgPool2d((6, 6), **b)
        elif variant == "original":
            layers = [ConvReLU2d(3, 96, 11, 4, **b), nn.Identity(), lrn(), MaxPool2d(3, 2, **b),
                      ConvReLU2d(96, 256, 5, padding=2, groups=2, **b), nn.Identity(), lrn(),
                      MaxPool2d(3, 2, **b),
                      ConvReLU2d(256, 384, 3, padding=1, **b), nn.Identity(),
                      ConvReLU2d(384, 384, 3, padding=1, groups=2, **b), nn.Identity(),
                      ConvReLU2d(384, 256, 3, padding=1, groups=2, **b), nn.Identity(),
                      MaxPool2d(3, 2, **b)]
            self.avgpool = nn.Identity()  # the paper's 227 input gives 6x6 by itself
        elif variant == "zfnet":
            layers = [ConvReLU2d(3, 96, 7, 2, 1, **b), nn.Identity(), MaxPool2d(3, 2, 1, **b),
                      lrn(),
                      ConvReLU2d(96, 256, 5, 2, **b), nn.Identity(),
                      MaxPool2d(3, 2, ceil_mode=True, **b), lrn(),
                      ConvReLU2d(256, 384, 3, padding=1, **b), nn.Identity(),
                      ConvReLU2d(384, 384, 3, padding=1, **b), nn.Identity(),
                      ConvReLU2d(384, 256, 3, padding=1, **b), nn.Identity(),
                      MaxPool2d(3, 2, **b)]
            self.avgpool = nn.Identity()
        else:
            raise ValueError(f"AlexNet variant must be 'torchvision', 'original' or 'zfnet', "
                             f"got {variant!r}")
        self.features = nn.Sequential(*layers)
        self.classifier = _classifier(256 * 6 * 6, num_classes, dropout)
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register("alexnet", reference="torchvision:alexnet", min_size=63)
def alexnet(*, num_classes: int = 1000, dropout: float = 0.5,
            backend: Optional[str] = None) -> AlexNet:
    """torchvision's single-tower AlexNet (61,100,840 parameters)."""
    return AlexNet("torchvision", num_classes, dropout, backend)


@register("alexnet_original", input_size=(3, 227, 227))
def alexnet_original(*, num_classes: int = 1000, dropout: float = 0.5,
                     backend: Optional[str] = None) -> AlexNet:
    """The paper's two-tower AlexNet (227 input, grouped conv2/4/5, LRN)."""
    return AlexNet("original", num_classes, dropout, backend)


@register("zfnet")
def zfnet(*, num_classes: int = 1000, dropout: float = 0.5,
          backend: Optional[str] = None) -> AlexNet:
    """ZFNet: AlexNet with a 7x7/2 first conv, a 5x5/2 second conv and no grouping."""
    return AlexNet("zfnet", num_classes, dropout, backend)
