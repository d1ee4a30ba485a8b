"""``LocalResponseNorm`` and the fused LRN + max-pool module, plus the pass that fuses the two
when a model puts them back to back (AlexNet's norm -> pool, GoogLeNet's pool -> norm)."""

from __future__ import annotations

import types
from typing import Optional

import torch
from torch import Tensor

from .. import ops
from ..backends import runs_on_torch
from ._common import TorchTwin

# torch's own forwards, run as they are on the torch backend (looked up once, not per call).
_TORCH_FORWARD = types.SimpleNamespace(
    LocalResponseNorm=torch.nn.LocalResponseNorm.forward,
    MaxPool2d=torch.nn.MaxPool2d.forward,
)


class LocalResponseNorm(TorchTwin, torch.nn.LocalResponseNorm):
    """``torch.nn.LocalResponseNorm`` on :func:`convkernels.ops.local_response_norm`.

    Example::

        >>> norm = convkernels.nn.LocalResponseNorm(**convkernels.ops.ALEXNET_LRN)
    """

    def __init__(self, *args, backend: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend = backend

    def forward(self, input: Tensor) -> Tensor:
        if runs_on_torch(self.backend, input):
            return _TORCH_FORWARD.LocalResponseNorm(self, input)
        return ops.local_response_norm(input, self.size, self.alpha, self.beta, self.k,
                                       backend=self.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._backend_repr()


class LRNMaxPool2d(torch.nn.Module):
    """A ``LocalResponseNorm`` and a ``MaxPool2d`` run as one operator
    (:func:`convkernels.ops.lrn_max_pool2d`). ``order="lrn_pool"`` is AlexNet's conv1/conv2
    order, ``"pool_lrn"`` GoogLeNet's pool1 -> norm1. The two layers are kept as submodules
    (``lrn``, ``pool``) so the configuration reads like the unfused pair.
    """

    def __init__(self, lrn: torch.nn.LocalResponseNorm, pool: torch.nn.MaxPool2d,
                 order: str = "lrn_pool", *, backend: Optional[str] = None):
        super().__init__()
        if order not in ("lrn_pool", "pool_lrn"):
            raise ValueError(f"LRNMaxPool2d: order must be 'lrn_pool' or 'pool_lrn', got "
                             f"{order!r}")
        self.lrn = lrn
        self.pool = pool
        self.order = order
        self.backend = backend

    def forward(self, input: Tensor):
        p, n = self.pool, self.lrn
        if not p.return_indices and runs_on_torch(self.backend, input):
            # The torch backend of the fused op is this composition of torch's own forwards.
            if self.order == "lrn_pool":
                return _TORCH_FORWARD.MaxPool2d(p, _TORCH_FORWARD.LocalResponseNorm(n, input))
            return _TORCH_FORWARD.LocalResponseNorm(n, _TORCH_FORWARD.MaxPool2d(p, input))
        return ops.lrn_max_pool2d(input, n.size, n.alpha, n.beta, n.k, p.kernel_size, p.stride,
                                  p.padding, p.dilation, p.ceil_mode, order=self.order,
                                  return_indices=p.return_indices, backend=self.backend)

    def extra_repr(self) -> str:
        s = f"order={self.order!r}"
        return s + (f", backend={self.backend!r}" if self.backend is not None else "")


def fuse_lrn_max_pool(module: torch.nn.Module, *, backend: Optional[str] = None) -> list[str]:
    """Replace, in place, every LocalResponseNorm directly followed by a MaxPool2d (or the
    reverse) inside an ``nn.Sequential`` with one :class:`LRNMaxPool2d`; the second slot
    becomes an ``nn.Identity`` so indices (and state_dict keys, none here) keep their places.
    Returns the names of the fused pairs. Pools with ``return_indices`` are left alone.
    """
    fused = []
    for name, child in module.named_modules():
        if not isinstance(child, torch.nn.Sequential):
            continue
        keys = list(child._modules)
        i = 0
        while i + 1 < len(keys):
            a, b = child._modules[keys[i]], child._modules[keys[i + 1]]
            order = None
            if isinstance(a, torch.nn.LocalResponseNorm) and _plain_pool(b):
                order, lrn, pool = "lrn_pool", a, b
            elif _plain_pool(a) and isinstance(b, torch.nn.LocalResponseNorm):
                order, lrn, pool = "pool_lrn", b, a
            if order is None:
                i += 1
                continue
            child._modules[keys[i]] = LRNMaxPool2d(lrn, pool, order, backend=backend)
            child._modules[keys[i + 1]] = torch.nn.Identity()
            fused.append(f"{name + '.' if name else ''}{keys[i]}+{keys[i + 1]}")
            i += 2
    return fused


def _plain_pool(m) -> bool:
    return isinstance(m, torch.nn.MaxPool2d) and not m.return_indices


__all__ = ["LocalResponseNorm", "LRNMaxPool2d", "fuse_lrn_max_pool"]
