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
    return grad_x, grad_w, grad_scale, grad_shift, grad_residual, None, None, None, None, None


def _depthwise_backward_ops(ctx, x, w, groups):
    """(input_grad, weight_grad) ops of the forward's backend for a depthwise convolution
    (groups == C > 1, weight [multiplier * C, 1, R, S]), else None (aten's backward)."""
    backend = getattr(ctx, "backend", None)
    if backend not in ("cuda", "triton") or groups == 1 or groups != x.shape[1] \
            or w.shape[1] != 1 or x.dtype == torch.float64:
        return None
    ops = torch.ops.convkernels
    return (getattr(ops, f"{backend}_depthwise_backward_input").default,
            getattr(ops, f"{backend}_depthwise_backward_weight").default)


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


# ==== pooling and local response normalization (op families: pool, lrn) =====================
# Every backward here is one of our own backward primitives on the same backend as the
# forward (gather form, no atomics, deterministic), so these formulas are factories taking
# the backend; the index/shape bookkeeping is shared by the cuda_* and triton_* twins.

def _pool_op(backend: str, name: str):
    return getattr(torch.ops.convkernels, f"{backend}_{name}").default


def _hw(x):
    return [x.shape[2], x.shape[3]]


def max_pool2d_setup(ctx, inputs, output):
    x, kernel, stride, padding, dilation, ceil_mode, return_indices = inputs
    if not return_indices:
        raise RuntimeError("convkernels max_pool2d: the backward needs the indices; the op "
                           "asks for them whenever autograd is recording")
    ctx.args = (_hw(x), list(kernel), list(stride), list(padding), list(dilation))
    ctx.save_for_backward(output[1])
    ctx.mark_non_differentiable(output[1])


def max_pool2d_backward(backend, ctx, grad, _grad_indices):
    (indices,) = ctx.saved_tensors
    gx = _pool_op(backend, "max_pool2d_backward")(grad, indices, *ctx.args)
    return gx, None, None, None, None, None, None


def avg_pool2d_setup(ctx, inputs, output):
    x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override = inputs
    ctx.args = (_hw(x), list(kernel), list(stride), list(padding), count_include_pad,
                divisor_override)


def avg_pool2d_backward(backend, ctx, grad):
    gx = _pool_op(backend, "avg_pool2d_backward")(grad, *ctx.args)
    return gx, None, None, None, None, None, None


def adaptive_avg_pool2d_setup(ctx, inputs, output):
    ctx.input_size = _hw(inputs[0])


def adaptive_avg_pool2d_backward(backend, ctx, grad):
    return _pool_op(backend, "adaptive_avg_pool2d_backward")(grad, ctx.input_size), None


def adaptive_max_pool2d_setup(ctx, inputs, output):
    x, output_size, return_indices = inputs
    if not return_indices:
        raise RuntimeError("convkernels adaptive_max_pool2d: the backward needs the indices")
    ctx.input_size = _hw(x)
    ctx.save_for_backward(output[1])
    ctx.mark_non_differentiable(output[1])


def adaptive_max_pool2d_backward(backend, ctx, grad, _grad_indices):
    (indices,) = ctx.saved_tensors
    gx = _pool_op(backend, "adaptive_max_pool2d_backward")(grad, indices, ctx.input_size)
    return gx, None, None


def max_unpool2d_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[1])


def max_unpool2d_backward(backend, ctx, grad):
    (indices,) = ctx.saved_tensors
    return _pool_op(backend, "max_unpool2d_backward")(grad, indices), None, None


def local_response_norm_setup(ctx, inputs, output):
    x, size, alpha, beta, k = inputs
    ctx.args = (size, alpha, beta, k)
    ctx.save_for_backward(x)


def local_response_norm_backward(backend, ctx, grad):
    (x,) = ctx.saved_tensors
    gx = _pool_op(backend, "local_response_norm_backward")(grad, x, *ctx.args)
    return gx, None, None, None, None


def lrn_max_pool2d_setup(ctx, inputs, output):
    (x, size, alpha, beta, k, kernel, stride, padding, dilation, ceil_mode, pool_first,
     return_indices) = inputs
    if not return_indices:
        raise RuntimeError("convkernels lrn_max_pool2d: the backward needs the indices")
    ctx.lrn = (size, alpha, beta, k)
    ctx.pool = (_hw(x), list(kernel), list(stride), list(padding), list(dilation))
    ctx.pool_first = pool_first
    ctx.save_for_backward(x, output[1])
    ctx.mark_non_differentiable(output[1])


def lrn_max_pool2d_backward(backend, ctx, grad, _grad_indices):
    """Chain rule through the two halves, each on our backward kernels. Pool-then-LRN needs
    the pooled values: they are the input gathered at the saved indices (no recompute)."""
    x, indices = ctx.saved_tensors
    pool_bwd = _pool_op(backend, "max_pool2d_backward")
    lrn_bwd = _pool_op(backend, "local_response_norm_backward")
    if ctx.pool_first:
        N, C = x.shape[:2]
        pooled = x.reshape(N, C, -1).gather(2, indices.reshape(N, C, -1)).view(indices.shape)
        gx = pool_bwd(lrn_bwd(grad, pooled, *ctx.lrn), indices, *ctx.pool)
    else:
        gx = lrn_bwd(pool_bwd(grad, indices, *ctx.pool), x, *ctx.lrn)
    return (gx,) + (None,) * 11


#: primitive -> (backward(backend, ctx, *grads), setup_context)
POOL_FORMULAS = {
    "max_pool2d": (max_pool2d_backward, max_pool2d_setup),
    "avg_pool2d": (avg_pool2d_backward, avg_pool2d_setup),
    "adaptive_avg_pool2d": (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_setup),
    "adaptive_max_pool2d": (adaptive_max_pool2d_backward, adaptive_max_pool2d_setup),
    "max_unpool2d": (max_unpool2d_backward, max_unpool2d_setup),
    "local_response_norm": (local_response_norm_backward, local_response_norm_setup),
    "lrn_max_pool2d": (lrn_max_pool2d_backward, lrn_max_pool2d_setup),
}

# ---- resize_conv: out = act(conv(upsample(x), w) * scale + shift) -----------------------------
# Nearest: the primitive takes the phase-folded weight; its backward is the folded
# formulation (one aten convolution_backward per residue class on the low-res input), and
# the fold itself (an einsum in convkernels.ops) carries the gradient back to the weight.
# Bilinear: aten's composite backward: the upsampled input is re-materialized for the
# weight gradient and upsample_bilinear2d_backward maps the input gradient back.

def _relu_masked(ctx, grad, out):
    return torch.where(out > 0, grad, torch.zeros_like(grad)) if ctx.relu else grad


def _affine_grads(ctx, g, raw_fn, acc):
    need = ctx.needs_input_grad
    grad_scale = grad_shift = None
    if ctx.has[1] and need[3]:
        grad_shift = g.to(acc).sum(_DIMS)
    if ctx.has[0] and need[2]:
        grad_scale = (g.to(acc) * raw_fn().to(acc)).sum(_DIMS)
    return grad_scale, grad_shift


def resize_conv2d_fused_setup(ctx, inputs, output):
    x, w, scale, shift, scale_factor, padding, stride, extra, relu = inputs
    ctx.geometry = (scale_factor, list(padding), list(stride), extra)
    ctx.relu = relu
    ctx.has = (scale is not None, shift is not None)
    ctx.save_for_backward(x, w, scale, output if relu else None)


def resize_nearest_conv2d_fused_backward(ctx, grad):
    from .reference import resize_conv as ref
    x, wf, scale, out = ctx.saved_tensors
    s, padding, stride, kernel_size = ctx.geometry
    need = ctx.needs_input_grad
    g = _relu_masked(ctx, grad, out)
    grad_scale, grad_shift = _affine_grads(
        ctx, g, lambda: ref.nearest_folded_conv2d(x, wf, None, None, s, padding, stride,
                                                  kernel_size, False), _acc(x.dtype))
    grad_x = grad_wf = None
    if need[0] or need[1]:
        g_in = (g.to(_acc(x.dtype)) * scale.view(1, -1, 1, 1)).to(x.dtype) if ctx.has[0] else g
        grad_x, grad_wf = ref.nearest_folded_conv2d_backward(
            g_in, x, wf, s, padding, stride, kernel_size, need[0], need[1])
    return grad_x, grad_wf, grad_scale, grad_shift, None, None, None, None, None


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
    g = _relu_masked(ctx, grad, out)
    up = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=align_corners)
    grad_scale, grad_shift = _affine_grads(
        ctx, g, lambda: F.conv2d(up, w, None, stride, padding), _acc(x.dtype))
    grad_x = grad_w = None
    if need[0] or need[1]:
        g_in = (g.to(_acc(x.dtype)) * scale.view(1, -1, 1, 1)).to(x.dtype) if ctx.has[0] else g
        grad_up, grad_w, _ = torch.ops.aten.convolution_backward(
            g_in, up, w, None, stride, padding, [1, 1], False, [0, 0], 1,
            [need[0], need[1], False])
        if need[0]:
            grad_x = _bilinear_upsample_vjp(x, grad_up, s, align_corners)
    return grad_x, grad_w, grad_scale, grad_shift, None, None, None, None, None


FORMULAS["resize_nearest_conv2d_fused"] = (resize_nearest_conv2d_fused_backward,
                                           resize_conv2d_fused_setup)
FORMULAS["resize_bilinear_conv2d_fused"] = (resize_bilinear_conv2d_fused_backward,
                                            resize_conv2d_fused_setup)
# ---- winograd -------------------------------------------------------------------------------
# winograd_conv2d_fused(input, weight, transformed_weight, scale, shift, residual, padding,
# tile, relu): the kernel reads only the transformed weight U; gradients go to the original
# weight through the conv2d_fused formula (aten convolution_backward), and U, a cached,
# detached function of weight, gets none. winograd_filter_transform is linear in the
# weight: d weight = G^T dU G per (k, c).

def winograd_conv2d_fused_setup(ctx, inputs, output):
    x, w, _u, scale, shift, residual, padding, _tile, relu = inputs
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
    return gx, gw, None, gscale, gshift, gres, None, None, None


def winograd_filter_transform_setup(ctx, inputs, output):
    weight, tile = inputs
    ctx.tile = tile
    ctx.weight_dtype = weight.dtype


def winograd_filter_transform_backward(ctx, grad):
    from .reference.winograd import transform_matrices
    alpha = ctx.tile + 2
    acc = _acc(grad.dtype)
    # G built here from its exact entries, not taken from a cache of tensors: a tensor made
    # outside the trace is not a FakeTensor, so torch.compile's AOT tracing would reject it.
    g = torch.tensor([[float(v) for v in row] for row in transform_matrices(ctx.tile)[1]],
                     dtype=acc, device=grad.device)
    gu = grad.to(acc).reshape(alpha, alpha, grad.shape[1], grad.shape[2])
    return torch.einsum("ar,abkc,bs->kcrs", g, gu, g).to(ctx.weight_dtype), None


FORMULAS["winograd_conv2d_fused"] = (winograd_conv2d_fused_backward, winograd_conv2d_fused_setup)
FORMULAS["winograd_filter_transform"] = (winograd_filter_transform_backward,
                                         winograd_filter_transform_setup)

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
