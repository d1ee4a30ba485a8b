"""The resize_conv family's primitives: ``resize_nearest_conv2d_fused`` (takes the
phase-folded weight) and ``resize_bilinear_conv2d_fused``, both
``act(conv(upsample(x), w) * scale + shift)`` without materializing the upsampled image.

Per primitive: the ``triton_*`` custom op (its ``cuda_*`` twin's schema comes from C++), the
fake kernel and the backward formula, registered for both twins. The ``cuda_*`` twins take one
trailing argument more, ``split_tf32=False`` (the cuda kernels' tf32x3 switch; the triton
kernels read :func:`convkernels.precision.get_fp32_precision` themselves), so the fake kernels
and formulas accept it.

Backward. Nearest: the folded formulation (one aten ``convolution_backward`` per residue
class on the low-res input); the fold itself (an einsum in ``ops.fold_nearest_weight``)
carries the gradient back to the weight. Bilinear: aten's composite backward: the upsampled
input is re-materialized for the weight gradient and the upsample's own derivative maps the
input gradient back.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _library
from .._autograd import CHANNEL_DIMS, accumulation_dtype, relu_masked
from .._meta import empty_like_layout

PRIMITIVES = ("resize_nearest_conv2d_fused", "resize_bilinear_conv2d_fused")


# ---- triton_* custom ops (launchers imported lazily: Triton is optional) ---------------------

@torch.library.custom_op("convkernels::triton_resize_nearest_conv2d_fused", mutates_args=())
def triton_resize_nearest_conv2d_fused(input: Tensor, folded_weight: Tensor,
                                       scale: Optional[Tensor], shift: Optional[Tensor],
                                       scale_factor: int, padding: Sequence[int],
                                       stride: Sequence[int], kernel_size: Sequence[int],
                                       relu: bool) -> Tensor:
    from ..triton import resize_conv
    return resize_conv.nearest_conv2d_fused(input, folded_weight, scale, shift, scale_factor,
                                            list(padding), list(stride), list(kernel_size),
                                            relu)


@torch.library.custom_op("convkernels::triton_resize_bilinear_conv2d_fused", mutates_args=())
def triton_resize_bilinear_conv2d_fused(input: Tensor, weight: Tensor, scale: Optional[Tensor],
                                        shift: Optional[Tensor], scale_factor: int,
                                        padding: Sequence[int], stride: Sequence[int],
                                        align_corners: bool, relu: bool) -> Tensor:
    from ..triton import resize_conv
    return resize_conv.bilinear_conv2d_fused(input, weight, scale, shift, scale_factor,
                                             list(padding), list(stride), align_corners, relu)


# ---- fake kernels -----------------------------------------------------------------------------

def _resize_out(size, scale_factor, kernel, pad, stride):
    return (size * scale_factor + 2 * pad - kernel) // stride + 1


def resize_nearest_conv2d_fused_fake(input, folded_weight, scale, shift, scale_factor, padding,
                                     stride, kernel_size, relu, split_tf32=False):
    torch._check(input.dim() == 4 and folded_weight.dim() == 6,
                 lambda: "resize_nearest_conv2d_fused: 4-D input, 6-D folded weight")
    N, _, H, W = input.shape
    P = _resize_out(H, scale_factor, kernel_size[0], padding[0], stride[0])
    Q = _resize_out(W, scale_factor, kernel_size[1], padding[1], stride[1])
    return empty_like_layout(input, (N, folded_weight.shape[2], P, Q))


def resize_bilinear_conv2d_fused_fake(input, weight, scale, shift, scale_factor, padding,
                                      stride, align_corners, relu, split_tf32=False):
    torch._check(input.dim() == 4 and weight.dim() == 4,
                 lambda: "resize_bilinear_conv2d_fused: 4-D tensors")
    N, _, H, W = input.shape
    K, _, R, S = weight.shape
    P = _resize_out(H, scale_factor, R, padding[0], stride[0])
    Q = _resize_out(W, scale_factor, S, padding[1], stride[1])
    return empty_like_layout(input, (N, K, P, Q))


# ---- backward formulas: out = act(conv(upsample(x), w) * scale + shift) ----------------------

def _affine_grads(ctx, g, raw_fn, acc):
    need = ctx.needs_input_grad
    grad_scale = grad_shift = None
    if ctx.has[1] and need[3]:
        grad_shift = g.to(acc).sum(CHANNEL_DIMS)
    if ctx.has[0] and need[2]:
        grad_scale = (g.to(acc) * raw_fn().to(acc)).sum(CHANNEL_DIMS)
    return grad_scale, grad_shift


def resize_conv2d_fused_setup(ctx, inputs, output):
    # inputs[9:]: cuda's split_tf32, which changes the arithmetic and not the gradients.
    x, w, scale, shift, scale_factor, padding, stride, extra, relu = inputs[:9]
    ctx.geometry = (scale_factor, list(padding), list(stride), extra)
    ctx.relu = relu
    ctx.has = (scale is not None, shift is not None)
    ctx.save_for_backward(x, w, scale, output if relu else None)


def resize_nearest_conv2d_fused_backward(ctx, grad):
    from ..reference import resize_conv as ref
    x, wf, scale, out = ctx.saved_tensors
    s, padding, stride, kernel_size = ctx.geometry
    need = ctx.needs_input_grad
    acc = accumulation_dtype(x.dtype)
    g = relu_masked(grad, out, ctx.relu)
    grad_scale, grad_shift = _affine_grads(
        ctx, g, lambda: ref.nearest_folded_conv2d(x, wf, None, None, s, padding, stride,
                                                  kernel_size, False), acc)
    grad_x = grad_wf = None
    if need[0] or need[1]:
        g_in = (g.to(acc) * scale.view(1, -1, 1, 1)).to(x.dtype) if ctx.has[0] else g
        grad_x, grad_wf = ref.nearest_folded_conv2d_backward(
            g_in, x, wf, s, padding, stride, kernel_size, need[0], need[1])
    # One gradient per forward input: None for the geometry, relu (and cuda's split_tf32).
    return (grad_x, grad_wf, grad_scale, grad_shift) + (None,) * (len(need) - 4)


def _bilinear_upsample_vjp(x, grad_up, s, align_corners):
    """grad_up mapped back through F.interpolate(x, bilinear): aten's own derivative of the
    upsample. Called through autograd rather than as ``aten.upsample_bilinear2d_backward``
    with Python size lists: under torch.compile(dynamic=True) such a list mixes ints and
    SymInts and aten rejects it (``isIntList() INTERNAL ASSERT``)."""
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        up = F.interpolate(leaf, scale_factor=s, mode="bilinear", align_corners=align_corners)
        return torch.autograd.grad(up, leaf, grad_up)[0]


def resize_bilinear_conv2d_fused_backward(ctx, grad):
    x, w, scale, out = ctx.saved_tensors
    s, padding, stride, align_corners = ctx.geometry
    need = ctx.needs_input_grad
    acc = accumulation_dtype(x.dtype)
    g = relu_masked(grad, out, ctx.relu)
    up = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=align_corners)
    grad_scale, grad_shift = _affine_grads(
        ctx, g, lambda: F.conv2d(up, w, None, stride, padding), acc)
    grad_x = grad_w = None
    if need[0] or need[1]:
        g_in = (g.to(acc) * scale.view(1, -1, 1, 1)).to(x.dtype) if ctx.has[0] else g
        grad_up, grad_w, _ = torch.ops.aten.convolution_backward(
            g_in, up, w, None, stride, padding, [1, 1], False, [0, 0], 1,
            [need[0], need[1], False])
        if need[0]:
            grad_x = _bilinear_upsample_vjp(x, grad_up, s, align_corners)
    return (grad_x, grad_w, grad_scale, grad_shift) + (None,) * (len(need) - 4)


FAKES = {
    "resize_nearest_conv2d_fused": resize_nearest_conv2d_fused_fake,
    "resize_bilinear_conv2d_fused": resize_bilinear_conv2d_fused_fake,
}
FORMULAS = {
    "resize_nearest_conv2d_fused": (resize_nearest_conv2d_fused_backward,
                                    resize_conv2d_fused_setup),
    "resize_bilinear_conv2d_fused": (resize_bilinear_conv2d_fused_backward,
                                     resize_conv2d_fused_setup),
}
for _name in PRIMITIVES:
    _library.register(_name, FAKES[_name], FORMULAS[_name])
