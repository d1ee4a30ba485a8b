"""Modules mirroring ``torch.nn``: same constructor arguments, defaults, parameter names and
``__repr__``, so a ``state_dict`` moves between a torch module and its convkernels twin."""

from .conv import Conv2d
from .conv_bn_relu import ConvBNReLU2d
from .depthwise import SeparableConv2d
from .folded import FoldedBatchNorm2d, FoldedSyncBatchNorm, FusedConv2d
from .lenet import PartialConv2d, Subsampling2d
from .local_conv import LocallyConnected2d
from .lrn import LocalResponseNorm, LRNMaxPool2d, fuse_lrn_max_pool
from .pool import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    MaxPool2d,
    MaxUnpool2d,
    SpatialPyramidPool2d,
)
from .resize_conv import ResizeConv2d

__all__ = [
    # convolution
    "Conv2d", "ConvBNReLU2d", "FusedConv2d", "FoldedBatchNorm2d", "FoldedSyncBatchNorm",
    "SeparableConv2d", "ResizeConv2d",
    # pooling and LRN
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "MaxUnpool2d",
    "SpatialPyramidPool2d", "LocalResponseNorm", "LRNMaxPool2d", "fuse_lrn_max_pool",
    # layers of particular networks: DeepFace, LeNet-5
    "LocallyConnected2d", "PartialConv2d", "Subsampling2d",
]
