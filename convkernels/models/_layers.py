"""The layers the model zoo takes from :mod:`convkernels.nn` besides convolutions.

Every network imports pooling, LRN, separable and resize convolutions from here, so a
network's choice of layer implementation lives in one place. All accept ``backend=``.
"""

from __future__ import annotations

from ..nn import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    LocalResponseNorm,
    MaxPool2d,
    MaxUnpool2d,
    ResizeConv2d,
    SeparableConv2d,
    SpatialPyramidPool2d,
)

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "MaxUnpool2d", "LocalResponseNorm",
           "SpatialPyramidPool2d", "SeparableConv2d", "ResizeConv2d"]
