"""The conv family's primitives: ``conv2d_fused`` (implicit-GEMM convolution with a fused
``act(conv * scale + shift + residual)`` epilogue; ``groups > 1`` runs the depthwise family's
grouped and depthwise kernels) and the two halves of training-mode BatchNorm,
``channel_moments`` and ``scale_shift_relu``.

Per primitive: the ``triton_*`` custom op (its ``cuda_*`` twin's schema comes from C++), the
fake kernel and the backward formula, registered for both twins. ``cuda_conv2d_fused`` takes
one trailing argument more than its triton twin, ``split_tf32=False`` (the cuda kernel's
tf32x3 switch; the triton kernels read :func:`convkernels.precision.get_fp32_precision`
themselves), so its fake kernel and formula accept it. The convolution's
backward uses aten's ``convolution_backward`` (cuDNN on a GPU), except for depthwise
convolutions, which call the depthwise family's backward primitives on the forward's backend.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _library
from .._autograd import CHANNEL_DIMS, accumulation_dtype, relu_masked
from .._meta import conv_output_size, empty_like_layout

PRIMITIVES = ("conv2d_fused", "channel_moments", "scale_shift_relu")


# ---- triton_* custom ops (launchers imported lazily: Triton is optional) ---------------------

@torch.library.custom_op("convkernels::triton_conv2d_fused", mutates_args=())
def triton_conv2d_fused(input: Tensor, weight: Tensor, scale: Optional[Tensor],
                        shift: Optional[Tensor], residual: Optional[Tensor],
                        stride: Sequence[int], padding: Sequence[int],
                        dilation: Sequence[int], groups: int, relu: bool) -> Tensor:
    if groups != 1:
        from ..triton import depthwise_grouped
        return depthwise_grouped.conv2d_grouped(input, weight, scale, shift, residual,
                                                list(stride), list(padding), list(dilation),
                                                groups, relu)
    from ..triton import conv
    return conv.conv2d_fused(input, weight, scale, shift, residual, list(stride), list(padding),
                             list(dilation), relu)


@torch.library.custom_op("convkernels::triton_channel_moments", mutates_args=())
def triton_channel_moments(input: Tensor) -> tuple[Tensor, Tensor]:
    from ..triton import conv_batch_norm
    return conv_batch_norm.channel_moments(input)


@torch.library.custom_op("convkernels::triton_scale_shift_relu", mutates_args=())
def triton_scale_shift_relu(input: Tensor, scale: Tensor, shift: Tensor,
                            residual: Optional[Tensor], relu: bool) -> Tensor:
    from ..triton import conv_batch_norm
    return conv_batch_norm.scale_shift_relu(input, scale, shift, residual, relu)


# ---- fake kernels -----------------------------------------------------------------------------

def conv2d_fused_fake(input, weight, scale, shift, residual, stride, padding, dilation, groups,
                      relu, split_tf32=False):
    torch._check(input.dim() == 4 and weight.dim() == 4, lambda: "conv2d_fused: 4-D tensors")
    N, _, H, W = input.shape
    K, _, R, S = weight.shape
    P = conv_output_size(H, padding[0], dilation[0], R, stride[0])
    Q = conv_output_size(W, padding[1], dilation[1], S, stride[1])
    return empty_like_layout(input, (N, K, P, Q))


def channel_moments_fake(input):
    C = input.shape[1]
    acc = accumulation_dtype(input.dtype)
    return (input.new_empty((C,), dtype=acc), input.new_empty((C,), dtype=acc))


def scale_shift_relu_fake(input, scale, shift, residual, relu):
    return empty_like_layout(input, input.shape)


# ---- conv2d_fused: out = act(conv(x, w) * scale + shift + residual) ------------------------

def conv2d_fused_setup(ctx, inputs, output):
    # inputs[10:]: cuda's split_tf32, which changes the arithmetic and not the gradients.
    x, w, scale, shift, residual, stride, padding, dilation, groups, relu = inputs[:10]
    ctx.geometry = (list(stride), list(padding), list(dilation), groups)
    ctx.relu = relu
    ctx.has = (scale is not None, shift is not None, residual is not None)
    ctx.save_for_backward(x, w, scale, output if relu else None)


def conv2d_fused_backward(ctx, grad):
    x, w, scale, out = ctx.saved_tensors
    stride, padding, dilation, groups = ctx.geometry
    need = ctx.needs_input_grad
    g = relu_masked(grad, out, ctx.relu)
    acc = accumulation_dtype(x.dtype)
    grad_scale = grad_shift = grad_residual = grad_x = grad_w = None
    if ctx.has[2] and need[4]:
        grad_residual = g
    if ctx.has[1] and need[3]:
        grad_shift = g.to(acc).sum(CHANNEL_DIMS)
    if ctx.has[0] and need[2]:
        # d out / d scale needs the raw conv result, which the fused forward never stored.
        raw = F.conv2d(x, w, None, stride, padding, dilation, groups)
        grad_scale = (g.to(acc) * raw.to(acc)).sum(CHANNEL_DIMS)
    if need[0] or need[1]:
        g_acc = (g.to(acc) * scale.to(acc).view(1, -1, 1, 1)).to(x.dtype) if ctx.has[0] else g
        depthwise = _depthwise_backward_ops(ctx, x, w, groups)
        if depthwise is not None:
            input_grad, weight_grad = depthwise
            g_acc = g_acc.to(x.dtype)
            grad_x = input_grad(g_acc, x, w, stride, padding, dilation) if need[0] else None
            grad_w = weight_grad(g_acc, x, w, stride, padding, dilation) if need[1] else None
        else:
            grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
                g_acc, x, w, None, stride, padding, dilation, False, [0, 0], groups,
                [need[0], need[1], False])
    # One gradient per forward input: None for the geometry, relu (and cuda's split_tf32).
    return (grad_x, grad_w, grad_scale, grad_shift, grad_residual) + (None,) * (len(need) - 5)


def _depthwise_backward_ops(ctx, x, w, groups):
    """(input_grad, weight_grad) primitives of the forward's backend for a depthwise
    convolution (groups == C > 1, weight [multiplier * C, 1, R, S]), else None (aten's
    backward). They belong to the depthwise family, which registers them."""
    backend = getattr(ctx, "backend", None)
    if backend not in ("cuda", "triton") or groups == 1 or groups != x.shape[1] \
            or w.shape[1] != 1 or x.dtype == torch.float64:
        return None
    return (_library.op(backend, "depthwise_backward_input"),
            _library.op(backend, "depthwise_backward_weight"))


# ---- channel_moments: mean and biased variance per channel ---------------------------------

def channel_moments_setup(ctx, inputs, output):
    (x,) = inputs
    mean, _ = output
    ctx.save_for_backward(x, mean)


def channel_moments_backward(ctx, grad_mean, grad_var):
    x, mean = ctx.saved_tensors
    count = x.numel() // x.shape[1]
    acc = mean.dtype
    g = torch.zeros((1, x.shape[1], 1, 1), dtype=acc, device=x.device)
    if grad_mean is not None:
        g = g + grad_mean.view(1, -1, 1, 1) / count
    if grad_var is None:
        return g.expand(x.shape).to(x.dtype)
    centered = x.to(acc) - mean.view(1, -1, 1, 1)
    return (g + grad_var.view(1, -1, 1, 1) * (2.0 / count) * centered).to(x.dtype)


# ---- scale_shift_relu: out = act(x * scale + shift + residual) -----------------------------

def scale_shift_relu_setup(ctx, inputs, output):
    x, scale, shift, residual, relu = inputs
    ctx.relu = relu
    ctx.has_residual = residual is not None
    ctx.save_for_backward(x, scale, output if relu else None)


def scale_shift_relu_backward(ctx, grad):
    x, scale, out = ctx.saved_tensors
    need = ctx.needs_input_grad
    g = relu_masked(grad, out, ctx.relu)
    acc = scale.dtype
    g_acc = g.to(acc)
    grad_x = (g_acc * scale.view(1, -1, 1, 1)).to(x.dtype) if need[0] else None
    grad_scale = (g_acc * x.to(acc)).sum(CHANNEL_DIMS) if need[1] else None
    grad_shift = g_acc.sum(CHANNEL_DIMS) if need[2] else None
    grad_residual = g if ctx.has_residual and need[3] else None
    return grad_x, grad_scale, grad_shift, grad_residual, None


FAKES = {
    "conv2d_fused": conv2d_fused_fake,
    "channel_moments": channel_moments_fake,
    "scale_shift_relu": scale_shift_relu_fake,
}
FORMULAS = {
    "conv2d_fused": (conv2d_fused_backward, conv2d_fused_setup),
    "channel_moments": (channel_moments_backward, channel_moments_setup),
    "scale_shift_relu": (scale_shift_relu_backward, scale_shift_relu_setup),
}
for _name in PRIMITIVES:
    _library.register(_name, FAKES[_name], FORMULAS[_name])
