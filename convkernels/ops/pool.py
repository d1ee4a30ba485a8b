"""Pooling ops: max (overlapping windows, dilation, ceil_mode, indices), average, adaptive
and global average, adaptive max, max-unpool and the spatial pyramid pool (SPP-net).

Each validates once (:mod:`convkernels.ops.pool_checks`), then runs on the chosen backend:
``torch`` is ``torch.nn.functional`` (a call that goes to the torch backend whatever its
arguments calls torch's pool directly and validates only if torch raises: see
:mod:`convkernels.ops`); ``cuda`` and ``triton`` are our primitives, whose backward passes are
our own gather kernels (:mod:`convkernels.ops.pool_primitives`), deterministic and atomic-free.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks, _library, reference
from ..backends import choose, register
from . import pool_checks, pool_primitives  # noqa: F401  (pool_primitives registers the ops)
from ._common import batched, needs_grad, straight_to_torch, torch_result

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
           "global_avg_pool2d", "max_unpool2d", "spatial_pyramid_pool"]


def _unbatch_pair(unbatch, result, return_indices: bool):
    if return_indices:
        return unbatch(result[0]), unbatch(result[1])
    return unbatch(result)


# ---- max_pool2d -------------------------------------------------------------------------------

def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False, *,
               backend: Optional[str] = None):
    """2-D max pooling, equal to :func:`torch.nn.functional.max_pool2d`.

    Overlapping windows (AlexNet's 3x3 stride 2) are the main case; ``dilation``,
    ``ceil_mode`` (a last window starting in the right padding is dropped, as in torch) and
    ``return_indices`` (flat ``h * W + w`` per plane: ZFNet's "switches", for
    :func:`max_unpool2d`) are supported. A NaN in a window wins, as in torch. Backward
    (kernel backends): each input element gathers the gradients of the windows whose saved
    index is its own: no atomics, deterministic.

    Example::

        >>> x = torch.randn(2, 96, 55, 55)
        >>> y, idx = convkernels.ops.max_pool2d(x, 3, 2, return_indices=True)
        >>> y.shape
        torch.Size([2, 96, 27, 27])
    """
    if straight_to_torch(backend, input):
        out = torch_result(F.max_pool2d, input, kernel_size, stride, padding, dilation,
                           ceil_mode=ceil_mode, return_indices=return_indices)
        if out is not None:
            return out
    x, unbatch = batched(input)
    g = _checks.check_pool2d("max_pool2d", x, kernel_size, stride, padding, dilation,
                             ceil_mode, avg=False)
    grad = needs_grad(x)
    out = choose("max_pool2d", backend, x, needs_grad=grad)(x, g, bool(return_indices), grad)
    return _unbatch_pair(unbatch, out, return_indices)


@register("max_pool2d", "torch")
def _max_pool_torch(x, g, return_indices, grad):
    return reference.pool.max_pool2d(x, g.kernel, g.stride, g.padding, g.dilation,
                                     g.ceil_mode, return_indices)


def _max_pool_kernels(backend, x, g, return_indices, grad):
    out, idx = _library.op(backend, "max_pool2d")(
        x, list(g.kernel), list(g.stride), list(g.padding), list(g.dilation), g.ceil_mode,
        return_indices or grad)
    return (out, idx) if return_indices else out


# ---- avg_pool2d -------------------------------------------------------------------------------

def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None, *,
               backend: Optional[str] = None) -> Tensor:
    """2-D average pooling, equal to :func:`torch.nn.functional.avg_pool2d`
    (``ceil_mode``, ``count_include_pad``, ``divisor_override`` as in torch; fp32 sums).

    Example::

        >>> y = convkernels.ops.avg_pool2d(torch.randn(2, 128, 56, 56), 2)  # DenseNet transition
        >>> y.shape
        torch.Size([2, 128, 28, 28])
    """
    if straight_to_torch(backend, input):
        out = torch_result(F.avg_pool2d, input, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override)
        if out is not None:
            return out
    x, unbatch = batched(input)
    g = _checks.check_pool2d("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode,
                             avg=True)
    divisor = pool_checks.check_divisor_override("avg_pool2d", divisor_override)
    fn = choose("avg_pool2d", backend, x, needs_grad=needs_grad(x))
    return unbatch(fn(x, g, bool(count_include_pad), divisor))


@register("avg_pool2d", "torch")
def _avg_pool_torch(x, g, count_include_pad, divisor):
    return reference.pool.avg_pool2d(x, g.kernel, g.stride, g.padding, g.ceil_mode,
                                     count_include_pad, divisor or None)


def _avg_pool_kernels(backend, x, g, count_include_pad, divisor):
    # The primitives take a positive divisor (0: none); sum / -d is exactly -(sum / d).
    out = _library.op(backend, "avg_pool2d")(x, list(g.kernel), list(g.stride),
                                             list(g.padding), g.ceil_mode, count_include_pad,
                                             abs(divisor))
    return -out if divisor < 0 else out


# ---- adaptive pools -----------------------------------------------------------------------------

def adaptive_avg_pool2d(input: Tensor, output_size, *, backend: Optional[str] = None) -> Tensor:
    """Equal to :func:`torch.nn.functional.adaptive_avg_pool2d`: output cell ``o`` averages
    input rows ``[floor(o*H/OH), ceil((o+1)*H/OH))`` (and likewise columns).

    Example::

        >>> convkernels.ops.adaptive_avg_pool2d(torch.randn(2, 1024, 7, 7), 1).shape
        torch.Size([2, 1024, 1, 1])
    """
    if straight_to_torch(backend, input):
        out = torch_result(F.adaptive_avg_pool2d, input, output_size)
        if out is not None:
            return out
    x, unbatch = batched(input)
    size = pool_checks.check_adaptive_output_size("adaptive_avg_pool2d", x, output_size,
                                              empty_channels=True)
    if x.shape[1] == 0:   # torch returns the empty [N, 0, OH, OW]; nothing to launch
        return unbatch(reference.pool.adaptive_avg_pool2d(x, size))
    return unbatch(choose("adaptive_avg_pool2d", backend, x, needs_grad=needs_grad(x))(x, size))


def global_avg_pool2d(input: Tensor, *, backend: Optional[str] = None) -> Tensor:
    """Global average pooling (NiN, GoogLeNet, ResNet, DenseNet heads): [N, C, 1, 1]."""
    return adaptive_avg_pool2d(input, 1, backend=backend)


@register("adaptive_avg_pool2d", "torch")
def _adaptive_avg_torch(x, size):
    return reference.pool.adaptive_avg_pool2d(x, size)


def _adaptive_avg_kernels(backend, x, size):
    return _library.op(backend, "adaptive_avg_pool2d")(x, list(size))


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False, *,
                        backend: Optional[str] = None):
    """Equal to :func:`torch.nn.functional.adaptive_max_pool2d` (windows as in
    :func:`adaptive_avg_pool2d`, NaN wins, indices flat ``h * W + w``)."""
    if straight_to_torch(backend, input):
        out = torch_result(F.adaptive_max_pool2d, input, output_size, return_indices)
        if out is not None:
            return out
    x, unbatch = batched(input)
    size = pool_checks.check_adaptive_output_size("adaptive_max_pool2d", x, output_size)
    grad = needs_grad(x)
    out = choose("adaptive_max_pool2d", backend, x, needs_grad=grad)(x, size,
                                                                    bool(return_indices), grad)
    return _unbatch_pair(unbatch, out, return_indices)


@register("adaptive_max_pool2d", "torch")
def _adaptive_max_torch(x, size, return_indices, grad):
    return reference.pool.adaptive_max_pool2d(x, size, return_indices)


def _adaptive_max_kernels(backend, x, size, return_indices, grad):
    out, idx = _library.op(backend, "adaptive_max_pool2d")(x, list(size),
                                                           return_indices or grad)
    return (out, idx) if return_indices else out


# ---- max_unpool2d -------------------------------------------------------------------------------

def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size: Optional[Sequence[int]] = None, *,
                 backend: Optional[str] = None) -> Tensor:
    """Partial inverse of :func:`max_pool2d`, equal to :func:`torch.nn.functional.max_unpool2d`:
    each value goes to its switch ``indices`` in a zero plane (ZFNet's deconvnet unpooling).

    Indices outside the output plane raise (checked before any kernel runs; on a GPU that
    check synchronizes; under torch.compile it is skipped). Duplicate indices keep one of
    their values, as in torch.

    Example::

        >>> y, idx = convkernels.ops.max_pool2d(x, 2, return_indices=True)
        >>> convkernels.ops.max_unpool2d(y, idx, 2).shape == x.shape
        True
    """
    # torch's CPU unpool checks every index itself (its CUDA one does not: there the checked
    # path below does), so only CPU calls go straight to torch.
    if straight_to_torch(backend, input) and input.is_cpu:
        out = torch_result(F.max_unpool2d, input, indices, kernel_size, stride, padding,
                           output_size)
        if out is not None:
            return out
    x, unbatch = batched(input)
    if isinstance(indices, Tensor) and indices.dim() == 3:
        indices = indices.unsqueeze(0)
    size = pool_checks.check_unpool("max_unpool2d", x, indices, kernel_size, stride, padding,
                                output_size)
    # Data-dependent, so skipped while torch.compile traces (the kernels then trust the indices).
    if indices.numel() and not torch.compiler.is_compiling():
        lo, hi = torch.aminmax(indices)
        if int(lo) < 0 or int(hi) >= size[0] * size[1]:
            raise ValueError(f"convkernels.max_unpool2d: found an invalid max index "
                             f"({int(lo) if int(lo) < 0 else int(hi)}) for an output plane of "
                             f"size {size[0]}x{size[1]}")
    return unbatch(choose("max_unpool2d", backend, x, needs_grad=needs_grad(x))(x, indices, size))


@register("max_unpool2d", "torch")
def _unpool_torch(x, indices, size):
    return reference.pool.max_unpool2d(x, indices, size)


def _unpool_kernels(backend, x, indices, size):
    return _library.op(backend, "max_unpool2d")(x, indices, list(size))


# ---- spatial pyramid pooling ------------------------------------------------------------------

def spatial_pyramid_pool(input: Tensor, levels: Sequence[int] = (1, 2, 4), mode: str = "max",
                         *, backend: Optional[str] = None) -> Tensor:
    """SPP-net's spatial pyramid: for each level n, an adaptive ``mode`` pool to n x n bins,
    flattened and concatenated: a fixed-length [N, C * sum(n^2)] vector for any input size.

    Example (SPP-net: 13x13 conv5, 256 channels, 21 bins)::

        >>> convkernels.ops.spatial_pyramid_pool(torch.randn(2, 256, 13, 13)).shape
        torch.Size([2, 5376])
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"convkernels.spatial_pyramid_pool: mode must be 'max' or 'avg', got "
                         f"{mode!r}")
    levels = tuple(levels)
    if not levels or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0
                         for n in levels):
        raise ValueError(f"convkernels.spatial_pyramid_pool: levels must be positive ints, got "
                         f"{levels!r}")
    if straight_to_torch(backend, input) and input.dim() == 4:
        out = torch_result(reference.pool.spatial_pyramid_pool, input, levels, mode)
        if out is not None:
            return out
    _checks.check_float_tensor("spatial_pyramid_pool", "input", input, 4)
    if mode == "avg" and input.shape[1] == 0:   # torch's empty [N, 0]; nothing to launch
        return torch.cat([adaptive_avg_pool2d(input, n).flatten(1) for n in levels], dim=1)
    op = "adaptive_max_pool2d" if mode == "max" else "adaptive_avg_pool2d"
    pool_checks.check_adaptive_output_size(op, input, 1)   # the input checks (levels are checked)
    # One backend decision for every level; the levels differ only in their output size.
    grad = needs_grad(input)
    pool = choose(op, backend, input, needs_grad=grad)
    if mode == "max":
        return torch.cat([pool(input, (n, n), False, grad).flatten(1) for n in levels], dim=1)
    return torch.cat([pool(input, (n, n)).flatten(1) for n in levels], dim=1)


# The cuda and triton backends share each op's composition; only the primitives differ.
for _op, _impl in (("max_pool2d", _max_pool_kernels), ("avg_pool2d", _avg_pool_kernels),
                   ("adaptive_avg_pool2d", _adaptive_avg_kernels),
                   ("adaptive_max_pool2d", _adaptive_max_kernels),
                   ("max_unpool2d", _unpool_kernels)):
    for _backend in ("cuda", "triton"):
        register(_op, _backend)(functools.partial(_impl, _backend))
