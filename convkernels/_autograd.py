"""Backward formulas of the primitives, shared by their ``cuda_*`` and ``triton_*`` twins.

The forward passes are our kernels; the backward passes use aten ops for now
(``aten.convolution_backward`` is cuDNN on a GPU). That is an honest fallback, stated in the
public docstrings: dedicated backward kernels come where they pay off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_DIMS = (0, 2, 3)


def _acc(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---- conv2d_fused: out = act(conv(x, w) * scale + shift + residual) ------------------------

def conv2d_fused_setup(ctx, inputs, output):
    x, w, scale, shift, residual, stride, padding, dilation, groups, relu = inputs
    ctx.geometry = (list(stride), list(padding), list(dilation), groups)
    ctx.relu = relu
    ctx.has = (scale is not None, shift is not None, residual is not None)
    ctx.save_for_backward(x, w, scale, output if relu else None)


def conv2d_fused_backward(ctx, grad):
    x, w, scale, out = ctx.saved_tensors
    stride, padding, dilation, groups = ctx.geometry
    need = ctx.needs_input_grad
    g = torch.where(out > 0, grad, torch.zeros_like(grad)) if ctx.relu else grad
    acc = _acc(x.dtype)
    grad_scale = grad_shift = grad_residual = grad_x = grad_w = None
    if ctx.has[2] and need[4]:
        grad_residual = g
    if ctx.has[1] and need[3]:
        grad_shift = g.to(acc).sum(_DIMS)
    if ctx.has[0] and need[2]:
        # d out / d scale needs the raw conv result, which the fused forward never stored.
        raw = F.conv2d(x, w, None, stride, padding, dilation, groups)
        grad_scale = (g.to(acc) * raw.to(acc)).sum(_DIMS)
    if need[0] or need[1]:
        g_acc = (g.to(acc) * scale.to(acc).view(1, -1, 1, 1)).to(x.dtype) if ctx.has[0] else g
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            g_acc, x, w, None, stride, padding, dilation, False, [0, 0], groups,
            [need[0], need[1], False])
    return grad_x, grad_w, grad_scale, grad_shift, grad_residual, None, None, None, None, None


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
    g = torch.where(out > 0, grad, torch.zeros_like(grad)) if ctx.relu else grad
    acc = scale.dtype
    g_acc = g.to(acc)
    grad_x = (g_acc * scale.view(1, -1, 1, 1)).to(x.dtype) if need[0] else None
    grad_scale = (g_acc * x.to(acc)).sum(_DIMS) if need[1] else None
    grad_shift = g_acc.sum(_DIMS) if need[2] else None
    grad_residual = g if ctx.has_residual and need[3] else None
    return grad_x, grad_scale, grad_shift, grad_residual, None


FORMULAS = {
    "conv2d_fused": (conv2d_fused_backward, conv2d_fused_setup),
    "channel_moments": (channel_moments_backward, channel_moments_setup),
    "scale_shift_relu": (scale_shift_relu_backward, scale_shift_relu_setup),
}


# ---- local_conv: out = local_conv2d(x, w) + b ------------------------------------------------
# Backward recomputes the forward with the pure-PyTorch reference (unfold + per-position GEMM)
# and differentiates it with autograd: gradients as exact as the reference's, at the cost of
# one extra forward. Dedicated backward kernels are not written yet.

def local_conv2d_setup(ctx, inputs, output):
    x, w, b, stride, padding, dilation = inputs
    ctx.geometry = (list(stride), list(padding), list(dilation))
    ctx.save_for_backward(x, w, b)


def local_conv2d_backward(ctx, grad):
    from .reference.local_conv import local_conv2d
    x, w, b = ctx.saved_tensors
    need = ctx.needs_input_grad[:3]
    leaves = [t.detach().requires_grad_(n) if t is not None else None
              for t, n in zip((x, w, b), need)]
    with torch.enable_grad():
        out = local_conv2d(*leaves, *ctx.geometry)
    wrt = [t for t in leaves if t is not None and t.requires_grad]
    grads = iter(torch.autograd.grad(out, wrt, grad))
    return tuple(next(grads) if t is not None and t.requires_grad else None
                 for t in leaves) + (None, None, None)


FORMULAS["local_conv2d"] = (local_conv2d_backward, local_conv2d_setup)
