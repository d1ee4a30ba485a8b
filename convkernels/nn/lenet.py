"""LeNet-5's two non-standard layers (LeCun et al. 1998): trainable subsampling and the
partially connected convolution of C3.

Both run on :mod:`convkernels.ops` so ``backend=`` moves them like any other layer:
``Subsampling2d`` is a depthwise all-ones conv (the window sum) with the per-channel
coefficient and bias applied in the epilogue (``conv2d_affine``); ``PartialConv2d`` scatters
its connected filters into a dense weight and runs ``conv2d``.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from ._common import runs_torch_form
from ._value_cache import cached_derivative

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    # LeCun's scaled tanh, f(a) = 1.7159 tanh(2a/3): f(+-1) = +-1 and max curvature at +-1
    "scaled_tanh": lambda x: 1.7159 * torch.tanh(x * (2.0 / 3.0)),
    None: lambda x: x,
}


class Subsampling2d(nn.Module):
    """``act(coefficient[c] * sum_{k x k window} x + bias[c])``, window stride ``k``: the S2/S4
    layers of LeNet-5, 2 trainable parameters per channel (S2: 12, S4: 32).

    Args: ``channels``, ``kernel_size=2``, ``activation`` one of ``"sigmoid"`` (the paper's
    and the default), ``"tanh"``, ``"scaled_tanh"`` (the paper's squashing function) or None,
    ``backend``.

    Example::

        >>> s2 = convkernels.nn.Subsampling2d(6)
        >>> s2(torch.randn(1, 6, 28, 28)).shape
        torch.Size([1, 6, 14, 14])
    """

    def __init__(self, channels: int, kernel_size: int = 2,
                 activation: Optional[str] = "sigmoid", backend: Optional[str] = None,
                 device=None, dtype=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"Subsampling2d: activation must be one of "
                             f"{[a for a in ACTIVATIONS]}, got {activation!r}")
        factory = {"device": device, "dtype": dtype}
        self.channels, self.kernel_size = channels, kernel_size
        self.activation, self.backend = activation, backend
        self.weight = nn.Parameter(torch.empty(channels, **factory))
        self.bias = nn.Parameter(torch.empty(channels, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # fan-in k*k, as LeCun's uniform(-2.4/F, 2.4/F) rule
        bound = 2.4 / self.kernel_size ** 2
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        weight, bias = self.weight, self.bias
        if runs_torch_form(self.backend, x, self.channels):
            # The window sum is an average pool with divisor 1 (no grouped convolution).
            if weight.dtype != x.dtype:
                weight, bias = weight.to(x.dtype), bias.to(x.dtype)
            y = torch.addcmul(bias.view(-1, 1, 1), F.avg_pool2d(x, k, divisor_override=1),
                              weight.view(-1, 1, 1))
            return ACTIVATIONS[self.activation](y)
        ones = x.new_ones(self.channels, 1, k, k)
        y = ops.conv2d_affine(x, ones, weight.to(x.dtype), bias.to(x.dtype),
                              stride=k, groups=self.channels, backend=self.backend)
        return ACTIVATIONS[self.activation](y)

    def extra_repr(self) -> str:
        s = f"{self.channels}, kernel_size={self.kernel_size}, activation={self.activation!r}"
        return s + (f", backend={self.backend!r}" if self.backend is not None else "")


class PartialConv2d(nn.Module):
    """A convolution where output map ``o`` sees only the input maps ``i`` with
    ``connections[o][i]`` true (LeNet-5's C3). Only connected filters are parameters:
    ``weight`` is ``(n_connections, kH, kW)``, so C3 has 60 * 25 + 16 = 1516 of them.

    Args: ``connections`` (out_channels x in_channels booleans), ``kernel_size``, ``stride``,
    ``padding``, ``bias``, ``backend``.

    Example::

        >>> table = [[1, 1, 0], [0, 1, 1]]
        >>> conv = convkernels.nn.PartialConv2d(table, 3)
        >>> conv(torch.randn(1, 3, 8, 8)).shape
        torch.Size([1, 2, 6, 6])
    """

    def __init__(self, connections, kernel_size, stride=1, padding=0, bias: bool = True,
                 backend: Optional[str] = None, device=None, dtype=None):
        super().__init__()
        mask = torch.as_tensor(connections, dtype=torch.bool, device="cpu")
        if mask.dim() != 2 or not mask.any(1).all():
            raise ValueError("PartialConv2d: connections must be an (out, in) boolean table "
                             "with at least one input per output map")
        k = nn.modules.utils._pair(kernel_size)
        factory = {"device": device, "dtype": dtype}
        self.out_channels, self.in_channels = mask.shape
        self.kernel_size, self.stride, self.padding = k, stride, padding
        self.backend = backend
        self._fan_in = mask.sum(1)  # per output map, on the CPU (init only)
        self.register_buffer("connections", mask.to(device), persistent=False)
        # (out, in) index of each stored filter, computed once here so forward needs no
        # data-dependent nonzero() (meta tensors, torch.compile)
        self.register_buffer("connection_index", mask.nonzero().t().to(device),
                             persistent=False)
        self.weight = nn.Parameter(torch.empty(int(mask.sum()), *k, **factory))
        self._dense_cache = None   # see _forward_weight (nn._value_cache.cached_derivative)
        self.bias = nn.Parameter(torch.empty(self.out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # per output map, fan-in = (its connected inputs) * kH * kW
        area = self.kernel_size[0] * self.kernel_size[1]
        bias_bound = (1.0 / (self._fan_in * area)).sqrt()
        weight_bound = bias_bound.repeat_interleave(self._fan_in).to(self.weight)
        with torch.no_grad():
            self.weight.copy_((torch.rand_like(self.weight) * 2 - 1) * weight_bound.view(-1, 1, 1))
            if self.bias is not None:
                self.bias.copy_((torch.rand_like(self.bias) * 2 - 1) * bias_bound.to(self.bias))

    def dense_weight(self) -> Tensor:
        """The ``(out, in, kH, kW)`` weight with zeros where there is no connection."""
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, *self.kernel_size)
        return dense.index_put(tuple(self.connection_index), self.weight)

    def _forward_weight(self) -> Tensor:
        """:meth:`dense_weight`, rebuilt only after ``weight`` changed, unless autograd needs
        it in the graph (then every call builds it)."""
        dense = cached_derivative(self, "_dense_cache", self.weight, self.dense_weight)
        return self.dense_weight() if dense is None else dense

    def forward(self, x: Tensor) -> Tensor:
        weight = self._forward_weight()
        if runs_torch_form(self.backend, x, self.in_channels):
            # torch's convolution with the dense weight.
            return F.conv2d(x, weight, self.bias, self.stride, self.padding)
        return ops.conv2d(x, weight, self.bias, self.stride, self.padding,
                          backend=self.backend)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"connections={int(self.connections.sum())}")
        if self.stride != 1:
            s += f", stride={self.stride}"
        if self.padding != 0:
            s += f", padding={self.padding}"
        return s + (f", backend={self.backend!r}" if self.backend is not None else "")
