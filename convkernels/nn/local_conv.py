"""``LocallyConnected2d``: a convolution with a separate filter bank at every output position
(DeepFace's L4-L6), on :func:`convkernels.ops.local_conv2d`."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from .. import ops, reference
from ..backends import runs_on_torch


class LocallyConnected2d(nn.Module):
    """Locally connected 2-D layer (unshared weights). torch.nn has no twin; the constructor
    is ``Conv2d``'s plus ``input_size`` (H, W), which the output size and so the number of
    filter banks depend on.

    Parameters: ``weight`` ``[P, Q, out_channels, in_channels, kH, kW]`` and ``bias``
    ``[out_channels, P, Q]`` (untied: one per position, as DeepFace), initialized like a
    Conv2d of the same fan-in.

    Example::

        >>> lc = convkernels.nn.LocallyConnected2d(16, 16, (25, 25), 9)
        >>> lc(torch.randn(1, 16, 25, 25)).shape
        torch.Size([1, 16, 17, 17])
    """

    def __init__(self, in_channels: int, out_channels: int, input_size, kernel_size,
                 stride=1, padding=0, dilation=1, bias: bool = True,
                 backend: Optional[str] = None, device=None, dtype=None):
        super().__init__()
        pair = nn.modules.utils._pair
        self.in_channels, self.out_channels = in_channels, out_channels
        self.input_size, self.kernel_size = pair(input_size), pair(kernel_size)
        self.stride, self.padding, self.dilation = pair(stride), pair(padding), pair(dilation)
        self.backend = backend
        self._input_shape = (in_channels, *self.input_size)
        self.output_size = tuple(
            (n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(
                self.input_size, self.padding, self.dilation, self.kernel_size, self.stride))
        if min(self.output_size) <= 0:
            raise ValueError(f"LocallyConnected2d: input_size {self.input_size} with kernel "
                             f"{self.kernel_size} gives an empty output {self.output_size}")
        factory = {"device": device, "dtype": dtype}
        P, Q = self.output_size
        self.weight = nn.Parameter(torch.empty(P, Q, out_channels, in_channels,
                                               *self.kernel_size, **factory))
        self.bias = (nn.Parameter(torch.empty(out_channels, P, Q, **factory)) if bias
                     else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.weight, -bound, bound)  # Conv2d's default, per position
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() == 4 and input.shape[0] and input.shape[1:] == self._input_shape \
                and runs_on_torch(self.backend, input):
            # The torch backend (the op's reference), less the op's checks: other inputs
            # take the op, whose checks name what is wrong with them.
            return reference.local_conv2d(input, self.weight, self.bias, self.stride,
                                          self.padding, self.dilation)
        return ops.local_conv2d(input, self.weight, self.bias, self.stride, self.padding,
                                self.dilation, backend=self.backend)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s + (f", backend={self.backend!r}" if self.backend is not None else "")
