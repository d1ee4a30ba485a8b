"""``convkernels.nn.Conv2d``: a drop-in ``torch.nn.Conv2d`` running on convkernels."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ..backends import runs_on_torch


def padded_input(conv: torch.nn.Conv2d, x: Tensor) -> tuple[Tensor, object]:
    """Apply a non-zero ``padding_mode`` the way torch's Conv2d does; return (x, padding)."""
    if conv.padding_mode == "zeros":
        return x, conv.padding
    return F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode), 0


class Conv2d(torch.nn.Conv2d):
    """``torch.nn.Conv2d`` with the forward pass on :func:`convkernels.ops.conv2d`.

    It *is* a ``torch.nn.Conv2d`` (subclass): parameters, initialization, ``state_dict``
    keys and ``isinstance`` checks are torch's. Extra keyword arguments: ``backend`` and
    ``algo`` (see :func:`convkernels.ops.conv2d`).

    Example::

        >>> conv = convkernels.nn.Conv2d(3, 64, 3, padding=1, backend="auto")
        >>> conv.load_state_dict(torch.nn.Conv2d(3, 64, 3, padding=1).state_dict())
    """

    def __init__(self, *args, backend: Optional[str] = None, algo: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend
        self.algo = algo

    @classmethod
    def from_torch(cls, conv: torch.nn.Conv2d, *, backend: Optional[str] = None,
                   algo: str = "auto") -> "Conv2d":
        """A convkernels Conv2d sharing ``conv``'s parameters (no copy)."""
        new = cls.__new__(cls)
        new.__dict__.update(conv.__dict__)
        new._parameters = dict(conv._parameters)
        new.backend, new.algo = backend, algo
        return new

    def forward(self, input: Tensor) -> Tensor:
        # algo "auto"/"direct" on the torch backend is torch's own convolution; the Winograd
        # algos there run the reference transforms, so they take the op.
        if self.algo in ("auto", "direct") and runs_on_torch(self.backend, input):
            return super().forward(input)
        x, padding = padded_input(self, input)
        return ops.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                          self.groups, algo=self.algo, backend=self.backend)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        if self.algo != "auto":
            s += f", algo={self.algo!r}"
        return s
