"""``ConvReLU2d``: a :class:`convkernels.nn.Conv2d` whose ReLU runs in the conv's epilogue.

The networks without BatchNorm (AlexNet, VGG, GoogLeNet's torchvision-less parts, NiN...)
are ``conv -> relu`` chains; ``conv2d_affine(x, w, scale=None, shift=bias, relu=True)`` does
both in one pass. It is a Conv2d subclass with Conv2d's parameters (``weight``, ``bias``), so
state_dict keys are a plain conv's: a torchvision ``features.0.weight`` loads unchanged when the
ReLU that followed it is kept as an ``nn.Identity`` placeholder at its index.
"""

from __future__ import annotations

from torch import Tensor

from .. import nn as ck_nn
from .. import ops
from ..nn.conv import padded_input


class ConvReLU2d(ck_nn.Conv2d):
    """``relu(conv2d(x) + bias)`` in one op; constructor as :class:`convkernels.nn.Conv2d`."""

    def forward(self, input: Tensor) -> Tensor:
        x, padding = padded_input(self, input)
        return ops.conv2d_affine(x, self.weight, None, self.bias, self.stride, padding,
                                 self.dilation, self.groups, relu=True, backend=self.backend)
