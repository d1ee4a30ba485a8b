"""Modules mirroring ``torch.nn``: same constructor arguments, defaults, parameter names and
``__repr__``, so a ``state_dict`` moves between a torch module and its convkernels twin."""

from .conv import Conv2d
from .conv_bn_relu import ConvBNReLU2d
from .folded import FoldedBatchNorm2d, FusedConv2d
from .lenet import PartialConv2d, Subsampling2d
from .local_conv import LocallyConnected2d

__all__ = ["Conv2d", "ConvBNReLU2d", "FusedConv2d", "FoldedBatchNorm2d", "PartialConv2d",
           "Subsampling2d", "LocallyConnected2d"]
