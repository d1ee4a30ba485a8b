"""Pooling modules mirroring ``torch.nn``: each *is* its torch counterpart (a subclass, so
constructor arguments, defaults, ``extra_repr`` and ``isinstance`` checks are torch's) with
the forward pass on :mod:`convkernels.ops` and an extra ``backend=`` keyword."""

from __future__ import annotations

import types
from typing import Optional, Sequence

import torch
from torch import Tensor

from .. import ops
from ..backends import runs_on_torch
from ._common import TorchTwin

# torch's own forwards, run as they are on the torch backend (looked up once, not per call).
_TORCH_FORWARD = types.SimpleNamespace(
    AdaptiveAvgPool2d=torch.nn.AdaptiveAvgPool2d.forward,
    AdaptiveMaxPool2d=torch.nn.AdaptiveMaxPool2d.forward,
    AvgPool2d=torch.nn.AvgPool2d.forward,
    MaxPool2d=torch.nn.MaxPool2d.forward,
    MaxUnpool2d=torch.nn.MaxUnpool2d.forward,
)


class MaxPool2d(TorchTwin, torch.nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` on :func:`convkernels.ops.max_pool2d`.

    Example::

        >>> pool = convkernels.nn.MaxPool2d(3, stride=2, backend="auto")   # AlexNet pool1
    """

    def __init__(self, *args, backend: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend

    def forward(self, input: Tensor):
        if runs_on_torch(self.backend, input):
            return _TORCH_FORWARD.MaxPool2d(self, input)
        return ops.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                              self.ceil_mode, self.return_indices, backend=self.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._backend_repr()


class AvgPool2d(TorchTwin, torch.nn.AvgPool2d):
    """``torch.nn.AvgPool2d`` on :func:`convkernels.ops.avg_pool2d`."""

    def __init__(self, *args, backend: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend

    def forward(self, input: Tensor) -> Tensor:
        if runs_on_torch(self.backend, input):
            return _TORCH_FORWARD.AvgPool2d(self, input)
        return ops.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                              self.count_include_pad, self.divisor_override,
                              backend=self.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._backend_repr()


class AdaptiveAvgPool2d(TorchTwin, torch.nn.AdaptiveAvgPool2d):
    """``torch.nn.AdaptiveAvgPool2d`` on :func:`convkernels.ops.adaptive_avg_pool2d`."""

    def __init__(self, *args, backend: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend

    def forward(self, input: Tensor) -> Tensor:
        if runs_on_torch(self.backend, input):
            return _TORCH_FORWARD.AdaptiveAvgPool2d(self, input)
        return ops.adaptive_avg_pool2d(input, self.output_size, backend=self.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._backend_repr()


class AdaptiveMaxPool2d(TorchTwin, torch.nn.AdaptiveMaxPool2d):
    """``torch.nn.AdaptiveMaxPool2d`` on :func:`convkernels.ops.adaptive_max_pool2d`."""

    def __init__(self, *args, backend: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend

    def forward(self, input: Tensor):
        if runs_on_torch(self.backend, input):
            return _TORCH_FORWARD.AdaptiveMaxPool2d(self, input)
        return ops.adaptive_max_pool2d(input, self.output_size, self.return_indices,
                                       backend=self.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._backend_repr()


class MaxUnpool2d(TorchTwin, torch.nn.MaxUnpool2d):
    """``torch.nn.MaxUnpool2d`` on :func:`convkernels.ops.max_unpool2d`."""

    def __init__(self, *args, backend: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend

    def forward(self, input: Tensor, indices: Tensor,
                output_size: Optional[Sequence[int]] = None) -> Tensor:
        if runs_on_torch(self.backend, input):
            return _TORCH_FORWARD.MaxUnpool2d(self, input, indices, output_size)
        return ops.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding,
                                output_size, backend=self.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._backend_repr()


class SpatialPyramidPool2d(torch.nn.Module):
    """SPP-net's spatial pyramid pooling layer: [N, C, H, W] -> [N, C * sum(n^2)] for any H, W.

    Example::

        >>> spp = convkernels.nn.SpatialPyramidPool2d((1, 2, 4))
        >>> spp(torch.randn(2, 256, 13, 13)).shape      # 21 bins x 256 channels
        torch.Size([2, 5376])
    """

    def __init__(self, levels: Sequence[int] = (1, 2, 4), mode: str = "max", *,
                 backend: Optional[str] = None):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"SpatialPyramidPool2d: mode must be 'max' or 'avg', got {mode!r}")
        self.levels = tuple(int(n) for n in levels)
        self.mode = mode
        self.backend = backend

    def output_features(self, channels: int) -> int:
        return channels * sum(n * n for n in self.levels)

    def forward(self, input: Tensor) -> Tensor:
        return ops.spatial_pyramid_pool(input, self.levels, self.mode, backend=self.backend)

    def extra_repr(self) -> str:
        s = f"levels={self.levels}, mode={self.mode!r}"
        return s + (f", backend={self.backend!r}" if self.backend is not None else "")
