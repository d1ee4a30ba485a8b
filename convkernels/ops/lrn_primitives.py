"""The lrn family's primitives: ``local_response_norm`` with its ``*_backward`` primitive, and
``lrn_max_pool2d`` (LRN and max-pooling in one pass over the input, either order).

Per primitive: the ``triton_*`` custom op (its ``cuda_*`` twin's schema comes from C++) and
the fake kernel, registered for both twins; the forward primitives also get a backward
formula on the same backend's backward kernels (``lrn_max_pool2d`` chains LRN's and the pool
family's ``max_pool2d_backward``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .. import _library
from .._meta import empty_like_layout
from .pool_primitives import max_pool2d_fake, pooled_size, spatial_size

PRIMITIVES = ("local_response_norm", "lrn_max_pool2d")
BACKWARD_PRIMITIVES = ("local_response_norm_backward",)


# ---- triton_* custom ops (launchers imported lazily: Triton is optional) ---------------------

@torch.library.custom_op("convkernels::triton_local_response_norm", mutates_args=())
def triton_local_response_norm(input: Tensor, size: int, alpha: float, beta: float,
                               k: float) -> Tensor:
    from ..triton import lrn
    return lrn.local_response_norm(input, size, alpha, beta, k)


@torch.library.custom_op("convkernels::triton_local_response_norm_backward", mutates_args=())
def triton_local_response_norm_backward(grad_output: Tensor, input: Tensor, size: int,
                                        alpha: float, beta: float, k: float) -> Tensor:
    from ..triton import lrn
    return lrn.local_response_norm_backward(grad_output, input, size, alpha, beta, k)


@torch.library.custom_op("convkernels::triton_lrn_max_pool2d", mutates_args=())
def triton_lrn_max_pool2d(input: Tensor, size: int, alpha: float, beta: float, k: float,
                          kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                          dilation: Sequence[int], ceil_mode: bool, pool_first: bool,
                          return_indices: bool) -> tuple[Tensor, Tensor]:
    from ..triton import lrn
    OH, OW = pooled_size(input, kernel, stride, padding, dilation, ceil_mode)
    return lrn.lrn_max_pool2d(input, size, alpha, beta, k, list(kernel), list(stride),
                              list(padding), list(dilation), OH, OW, pool_first,
                              return_indices)


# ---- fake kernels -----------------------------------------------------------------------------

def local_response_norm_fake(input, size, alpha, beta, k):
    return empty_like_layout(input, input.shape)


def local_response_norm_backward_fake(grad_output, input, size, alpha, beta, k):
    return empty_like_layout(grad_output, input.shape)


def lrn_max_pool2d_fake(input, size, alpha, beta, k, kernel, stride, padding, dilation,
                        ceil_mode, pool_first, return_indices):
    return max_pool2d_fake(input, kernel, stride, padding, dilation, ceil_mode, return_indices)


# ---- backward formulas ------------------------------------------------------------------------

def local_response_norm_setup(ctx, inputs, output):
    x, size, alpha, beta, k = inputs
    ctx.args = (size, alpha, beta, k)
    ctx.save_for_backward(x)


def local_response_norm_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    gx = _library.op(ctx.backend, "local_response_norm_backward")(grad, x, *ctx.args)
    return gx, None, None, None, None


def lrn_max_pool2d_setup(ctx, inputs, output):
    (x, size, alpha, beta, k, kernel, stride, padding, dilation, ceil_mode, pool_first,
     return_indices) = inputs
    if not return_indices:
        raise RuntimeError("convkernels lrn_max_pool2d: the backward needs the indices")
    ctx.lrn = (size, alpha, beta, k)
    ctx.pool = (spatial_size(x), list(kernel), list(stride), list(padding), list(dilation))
    ctx.pool_first = pool_first
    ctx.save_for_backward(x, output[1])
    ctx.mark_non_differentiable(output[1])


def lrn_max_pool2d_backward(ctx, grad, _grad_indices):
    """Chain rule through the two halves, each on our backward kernels. Pool-then-LRN needs
    the pooled values: they are the input gathered at the saved indices (no recompute)."""
    x, indices = ctx.saved_tensors
    pool_bwd = _library.op(ctx.backend, "max_pool2d_backward")
    lrn_bwd = _library.op(ctx.backend, "local_response_norm_backward")
    if ctx.pool_first:
        N, C = x.shape[:2]
        pooled = x.reshape(N, C, -1).gather(2, indices.reshape(N, C, -1)).view(indices.shape)
        gx = pool_bwd(lrn_bwd(grad, pooled, *ctx.lrn), indices, *ctx.pool)
    else:
        gx = lrn_bwd(pool_bwd(grad, indices, *ctx.pool), x, *ctx.lrn)
    return (gx,) + (None,) * 11


FAKES = {
    "local_response_norm": local_response_norm_fake,
    "local_response_norm_backward": local_response_norm_backward_fake,
    "lrn_max_pool2d": lrn_max_pool2d_fake,
}
FORMULAS = {
    "local_response_norm": (local_response_norm_backward, local_response_norm_setup),
    "lrn_max_pool2d": (lrn_max_pool2d_backward, lrn_max_pool2d_setup),
}
for _name in PRIMITIVES + BACKWARD_PRIMITIVES:
    _library.register(_name, FAKES[_name], FORMULAS.get(_name))
