"""SPP-net (He et al. 2014): a ZF-5 conv trunk whose last conv map, of
whatever size the input gives, is max-pooled into 1x1 + 2x2 + 4x4 = 21 bins per channel, so
the FC layers always see 21 * 256 = 5376 features and the network takes any input size.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from ._fused import ConvReLU2d
from ._layers import LocalResponseNorm, MaxPool2d, SpatialPyramidPool2d
from ._registry import register

PYRAMID = (1, 2, 4)


class SPPNet(nn.Module):
    def __init__(self, num_classes: int = 1000, levels=PYRAMID, dropout: float = 0.5,
                 backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}

        def lrn():
            return LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0, **b)

        self.features = nn.Sequential(  # ZF-5: conv1..conv5, no pool after conv5
            ConvReLU2d(3, 96, 7, 2, 1, **b), MaxPool2d(3, 2, 1, **b), lrn(),
            ConvReLU2d(96, 256, 5, 2, 1, **b), MaxPool2d(3, 2, 1, **b), lrn(),
            ConvReLU2d(256, 384, 3, 1, 1, **b), ConvReLU2d(384, 384, 3, 1, 1, **b),
            ConvReLU2d(384, 256, 3, 1, 1, **b))
        self.spp = SpatialPyramidPool2d(levels, **b)
        n_bins = sum(n * n for n in levels)
        self.classifier = nn.Sequential(
            nn.Linear(256 * n_bins, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))

    def pooled_features(self, x: Tensor) -> Tensor:
        """The fixed-length SPP vector ``[N, 256 * 21]`` for any input size."""
        return self.spp(self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pooled_features(x))


@register("sppnet", min_size=48)
def sppnet(*, num_classes: int = 1000, dropout: float = 0.5,
           backend: Optional[str] = None) -> SPPNet:
    """ZF-5 trunk + spatial pyramid pooling (1x1, 2x2, 4x4) + FC head; any input size."""
    return SPPNet(num_classes, PYRAMID, dropout, backend)
