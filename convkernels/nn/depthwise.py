"""``convkernels.nn.SeparableConv2d``: depthwise k x k then pointwise 1x1, one module."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ._common import runs_torch_form


class SeparableConv2d(torch.nn.Module):
    """Depthwise-separable convolution (Xception, MobileNet) on
    :func:`convkernels.ops.separable_conv2d`.

    Holds two ``torch.nn.Conv2d`` children, so the ``state_dict`` keys are
    ``depthwise.weight`` ``[depth_multiplier * in_channels, 1, k, k]`` and
    ``pointwise.weight`` ``[out_channels, depth_multiplier * in_channels, 1, 1]`` (plus
    ``depthwise.bias`` / ``pointwise.bias`` when ``bias=True``), the layout of the common
    Xception ports (``conv1`` there is ``depthwise`` here). Constructor arguments follow
    those ports: ``bias`` defaults to False because a BatchNorm follows in every network
    that uses the block. ``stride``, ``padding`` and ``dilation`` apply to the depthwise
    stage. Initialization is ``torch.nn.Conv2d``'s for each child.

    Example::

        >>> sep = convkernels.nn.SeparableConv2d(128, 256, 3, padding=1)
        >>> sep(torch.randn(1, 128, 56, 56)).shape
        torch.Size([1, 256, 56, 56])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=1, stride=1, padding=0,
                 dilation=1, bias: bool = False, depth_multiplier: int = 1, device=None,
                 dtype=None, *, backend: Optional[str] = None):
        super().__init__()
        mid = in_channels * depth_multiplier
        factory = {"device": device, "dtype": dtype}
        self.depthwise = torch.nn.Conv2d(in_channels, mid, kernel_size, stride, padding,
                                         dilation, groups=in_channels, bias=bias, **factory)
        self.pointwise = torch.nn.Conv2d(mid, out_channels, 1, bias=bias, **factory)
        self.backend = backend

    def forward(self, input: Tensor) -> Tensor:
        dw, pw = self.depthwise, self.pointwise
        if runs_torch_form(self.backend, input, dw.in_channels):
            # The two torch convolutions this module stands for.
            return F.conv2d(F.conv2d(input, dw.weight, dw.bias, dw.stride, dw.padding,
                                     dw.dilation, dw.groups), pw.weight, pw.bias)
        return ops.separable_conv2d(input, dw.weight, pw.weight, dw.bias, pw.bias, dw.stride,
                                    dw.padding, dw.dilation, backend=self.backend)

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}" if self.backend is not None else ""
