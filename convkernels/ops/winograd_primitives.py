"""The winograd family's primitives: ``winograd_filter_transform`` (U = G g G^T per (k, c))
and ``winograd_conv2d_fused`` (input transform, per-point GEMM over C and output transform
with the conv epilogue in one kernel).

Per primitive: the ``triton_*`` custom op (its ``cuda_*`` twin's schema comes from C++), the
fake kernel and the backward formula, registered for both twins. ``cuda_winograd_conv2d_fused``
takes one trailing argument more than its triton twin, ``split_tf32=False`` (the cuda kernel's
tf32x3 switch; the triton kernels read :func:`convkernels.precision.get_fp32_precision`
themselves), so its fake kernel and formula accept it.

Backward: ``winograd_conv2d_fused`` reads only the transformed weight U, but its gradients go
to the original weight (and input, scale, shift, residual) through the conv family's
``conv2d_fused`` formula (aten ``convolution_backward``); U, a cached, detached function of
the weight, gets none. ``winograd_filter_transform`` is linear in the weight:
d weight = G^T dU G per (k, c).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from .. import _library
from .._autograd import accumulation_dtype
from .conv_primitives import conv2d_fused_backward, conv2d_fused_fake, conv2d_fused_setup

PRIMITIVES = ("winograd_filter_transform", "winograd_conv2d_fused")


# ---- triton_* custom ops (launchers imported lazily: Triton is optional) ---------------------

@torch.library.custom_op("convkernels::triton_winograd_filter_transform", mutates_args=())
def triton_winograd_filter_transform(weight: Tensor, tile: int) -> Tensor:
    from ..triton import winograd
    return winograd.filter_transform(weight, tile)


@torch.library.custom_op("convkernels::triton_winograd_conv2d_fused", mutates_args=())
def triton_winograd_conv2d_fused(input: Tensor, weight: Tensor, transformed_weight: Tensor,
                                 scale: Optional[Tensor], shift: Optional[Tensor],
                                 residual: Optional[Tensor], padding: Sequence[int], tile: int,
                                 relu: bool) -> Tensor:
    """``weight`` is read only by the backward (gradients go to it, not to U)."""
    from ..triton import winograd
    return winograd.conv2d_fused(input, transformed_weight, scale, shift, residual,
                                 list(padding), tile, relu)


# ---- fake kernels -----------------------------------------------------------------------------

def winograd_filter_transform_fake(weight, tile):
    alpha = tile + 2
    return weight.new_empty((alpha * alpha, weight.shape[0], weight.shape[1]))


def winograd_conv2d_fused_fake(input, weight, transformed_weight, scale, shift, residual,
                               padding, tile, relu, split_tf32=False):
    return conv2d_fused_fake(input, weight, scale, shift, residual, [1, 1], padding, [1, 1], 1,
                             relu)


# ---- backward formulas ------------------------------------------------------------------------

def winograd_conv2d_fused_setup(ctx, inputs, output):
    # inputs[9:]: cuda's split_tf32, which changes the arithmetic and not the gradients.
    x, w, _u, scale, shift, residual, padding, _tile, relu = inputs[:9]
    conv2d_fused_setup(ctx, (x, w, scale, shift, residual, [1, 1], padding, [1, 1], 1, relu),
                       output)


def winograd_conv2d_fused_backward(ctx, grad):
    # conv2d_fused_backward reads ctx.needs_input_grad in its own argument order.
    need = ctx.needs_input_grad

    class _Ctx:
        saved_tensors = ctx.saved_tensors
        geometry, relu, has = ctx.geometry, ctx.relu, ctx.has
        needs_input_grad = (need[0], need[1], need[3], need[4], need[5])

    gx, gw, gscale, gshift, gres = conv2d_fused_backward(_Ctx, grad)[:5]
    # One gradient per forward input: None for U, padding, tile, relu (and cuda's split_tf32).
    return (gx, gw, None, gscale, gshift, gres) + (None,) * (len(need) - 6)


def winograd_filter_transform_setup(ctx, inputs, output):
    weight, tile = inputs
    ctx.tile = tile
    ctx.weight_dtype = weight.dtype


def winograd_filter_transform_backward(ctx, grad):
    from ..reference.winograd import transform_matrices
    alpha = ctx.tile + 2
    acc = accumulation_dtype(grad.dtype)
    # G built here from its exact entries, not taken from a cache of tensors: a tensor made
    # outside the trace is not a FakeTensor, so torch.compile's AOT tracing would reject it.
    g = torch.tensor([[float(v) for v in row] for row in transform_matrices(ctx.tile)[1]],
                     dtype=acc, device=grad.device)
    gu = grad.to(acc).reshape(alpha, alpha, grad.shape[1], grad.shape[2])
    return torch.einsum("ar,abkc,bs->kcrs", g, gu, g).to(ctx.weight_dtype), None


FAKES = {
    "winograd_filter_transform": winograd_filter_transform_fake,
    "winograd_conv2d_fused": winograd_conv2d_fused_fake,
}
FORMULAS = {
    "winograd_filter_transform": (winograd_filter_transform_backward,
                                  winograd_filter_transform_setup),
    "winograd_conv2d_fused": (winograd_conv2d_fused_backward, winograd_conv2d_fused_setup),
}
for _name in PRIMITIVES:
    _library.register(_name, FAKES[_name], FORMULAS[_name])
