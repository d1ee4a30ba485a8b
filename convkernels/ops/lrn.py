"""Local response normalization (AlexNet, GoogLeNet) and its fusion with max-pooling.

Semantics are torch's :func:`torch.nn.functional.local_response_norm` exactly: ``alpha`` is
divided by ``size``, the window of channel c is ``[c - size//2, c + (size-1)//2]`` with zero
padding, ``y = x / (k + alpha/size * sum x^2) ** beta``.
"""

from __future__ import annotations

import functools
from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from .. import _checks, _library, reference
from ..backends import choose, register
from . import lrn_checks, lrn_primitives  # noqa: F401  (lrn_primitives registers the ops)
from ._common import batched, needs_grad, straight_to_torch, torch_result

__all__ = ["local_response_norm", "lrn_max_pool2d", "ALEXNET_LRN", "GOOGLENET_LRN"]

#: Krizhevsky et al. 2012, section 3.3: n = 5, alpha = 1e-4, beta = 0.75, k = 2 (after conv1 and
#: conv2, each followed by a 3x3/2 max-pool).
ALEXNET_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
#: GoogLeNet (Szegedy et al. 2014, the Caffe model): local_size 5, alpha 1e-4, beta 0.75, k 1,
#: after pool1 (3x3/2, ceil mode) and after conv2.
GOOGLENET_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}

ORDERS = ("lrn_pool", "pool_lrn")


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0, *, backend: Optional[str] = None) -> Tensor:
    """Equal to :func:`torch.nn.functional.local_response_norm` on [N, C, H, W] or [N, C, L].

    Kernel backends: one pass over memory forward (the channel window is re-read through the
    cache, never from DRAM twice) and a fused backward that recomputes the window sums from
    the input instead of saving them. See ``ALEXNET_LRN`` / ``GOOGLENET_LRN`` for the papers'
    settings.

    Intended difference (kernel backends): the output is NCHW- or channels_last-contiguous
    by the rule every op follows (:mod:`convkernels._layout`). torch's composite LRN (an
    elementwise ``input / div``) keeps any other dense stride order of the input, e.g. H and
    W swapped, and resolves a channels_last ``C = 1`` input to NCHW strides; the values are
    equal, only those strides differ.

    Example::

        >>> y = convkernels.ops.local_response_norm(torch.randn(2, 96, 55, 55),
        ...                                         **convkernels.ops.ALEXNET_LRN)
    """
    if straight_to_torch(backend, input):
        out = torch_result(F.local_response_norm, input, size, alpha, beta, k)
        if out is not None:
            return out
    x = input.unsqueeze(2) if isinstance(input, Tensor) and input.dim() == 3 else input
    lrn_checks.check_lrn("local_response_norm", x, size, alpha, beta, k)
    fn = choose("local_response_norm", backend, x, needs_grad=needs_grad(x))
    out = fn(x, size, float(alpha), float(beta), float(k))
    return out.squeeze(2) if input.dim() == 3 else out


@register("local_response_norm", "torch")
def _lrn_torch(x, size, alpha, beta, k):
    return reference.lrn.local_response_norm(x, size, alpha, beta, k)


def _lrn_kernels(backend, x, size, alpha, beta, k):
    return _library.op(backend, "local_response_norm")(x, size, alpha, beta, k)


def lrn_max_pool2d(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                   k: float = 1.0, kernel_size=3, stride=2, padding=0, dilation=1,
                   ceil_mode: bool = False, *, order: str = "lrn_pool",
                   return_indices: bool = False, backend: Optional[str] = None):
    """LRN and max-pooling as one operator that reads the input once.

    ``order="lrn_pool"``: ``max_pool2d(local_response_norm(x))`` (AlexNet conv1/conv2);
    ``order="pool_lrn"``: ``local_response_norm(max_pool2d(x))`` (GoogLeNet pool1). Indices,
    if returned, are the max-pool's (into the plane that was pooled). Backward on the kernel
    backends chains our max-pool and LRN backward kernels.

    Example (AlexNet conv1 -> norm1 -> pool1)::

        >>> y = convkernels.ops.lrn_max_pool2d(torch.randn(2, 96, 55, 55),
        ...                                    **convkernels.ops.ALEXNET_LRN)
        >>> y.shape
        torch.Size([2, 96, 27, 27])
    """
    if order not in ORDERS:
        raise ValueError(f"convkernels.lrn_max_pool2d: order must be one of {ORDERS}, got "
                         f"{order!r}")
    if straight_to_torch(backend, input) and input.dim() == 4:
        out = torch_result(_torch_lrn_max_pool2d, input, size, alpha, beta, k, kernel_size,
                           stride, padding, dilation, ceil_mode, order, return_indices)
        if out is not None:
            return out
    x, unbatch = batched(input)
    g = _checks.check_pool2d("lrn_max_pool2d", x, kernel_size, stride, padding, dilation,
                             ceil_mode, avg=False)
    lrn_checks.check_lrn("lrn_max_pool2d", x, size, alpha, beta, k)
    grad = needs_grad(x)
    out, idx = choose("lrn_max_pool2d", backend, x, needs_grad=grad)(
        x, size, float(alpha), float(beta), float(k), g, order == "pool_lrn",
        bool(return_indices) or grad)
    return (unbatch(out), unbatch(idx)) if return_indices else unbatch(out)


def _torch_lrn_max_pool2d(input, size, alpha, beta, k, kernel_size, stride, padding, dilation,
                          ceil_mode, order, return_indices):
    """The composition in torch's functions with the caller's own arguments (4-D input)."""
    if order == "lrn_pool":
        return F.max_pool2d(F.local_response_norm(input, size, alpha, beta, k), kernel_size,
                            stride, padding, dilation, ceil_mode=ceil_mode,
                            return_indices=return_indices)
    pooled = F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode,
                          return_indices=return_indices)
    if return_indices:
        return F.local_response_norm(pooled[0], size, alpha, beta, k), pooled[1]
    return F.local_response_norm(pooled, size, alpha, beta, k)


@register("lrn_max_pool2d", "torch")
def _lrn_pool_torch(x, size, alpha, beta, k, g, pool_first, with_indices):
    return reference.lrn.lrn_max_pool2d(x, size, alpha, beta, k, g.kernel, g.stride,
                                         g.padding, g.dilation, g.ceil_mode, pool_first)


def _lrn_pool_kernels(backend, x, size, alpha, beta, k, g, pool_first, with_indices):
    return _library.op(backend, "lrn_max_pool2d")(
        x, size, alpha, beta, k, list(g.kernel), list(g.stride), list(g.padding),
        list(g.dilation), g.ceil_mode, pool_first, with_indices)


for _op, _impl in (("local_response_norm", _lrn_kernels), ("lrn_max_pool2d", _lrn_pool_kernels)):
    for _backend in ("cuda", "triton"):
        register(_op, _backend)(functools.partial(_impl, _backend))
