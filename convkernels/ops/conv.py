"""Convolution ops: ``conv2d`` (direct implicit GEMM), ``conv2d_affine`` and the fused
conv + BatchNorm + ReLU (inference with BN folded, and training).

Backward passes: the forward kernels are ours; gradients are computed by the formulas in
:mod:`convkernels.ops.conv_primitives` on top of aten ops (cuDNN's ``convolution_backward``
on a GPU), with our own kernels for depthwise convolutions.
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks, _library, reference
from .._checks import FLOAT_DTYPES
from ..backends import Call, choose, register
from ..precision import cuda_split_tf32_args
from . import conv_checks, conv_primitives  # noqa: F401  (conv_primitives registers the ops)
from . import winograd as _winograd
from ._common import (
    as_f32,
    channel_vectors,
    needs_grad,
    pad_same_extra,
    straight_to_torch,
    torch_result,
)

__all__ = ["conv2d", "conv2d_affine", "fused_conv_bn_relu", "fold_batch_norm"]

ALGOS = ("auto", "direct") + _winograd.ALGOS


def is_unbatched(input, weight) -> bool:
    """torch's conv2d takes an unbatched [C, H, W] input (and returns [K, P, Q])."""
    return (isinstance(input, Tensor) and input.dim() == 3 and isinstance(weight, Tensor)
            and weight.dim() == 4)


def torch_conv2d(input, weight, bias, stride, padding, dilation, groups) -> Optional[Tensor]:
    """``F.conv2d`` itself for an op on the torch backend (see ``straight_to_torch``), or None
    where the op must take its checked path instead: torch raised (the checks name the bad
    argument), or the weight or bias is on the meta device, which torch's CPU convolution
    reads as uninitialized memory (a silently wrong result; the checks refuse it)."""
    if getattr(weight, "is_meta", False) or getattr(bias, "is_meta", False):
        return None
    return torch_result(F.conv2d, input, weight, bias, stride, padding, dilation, groups)


def _check_algo(op: str, algo: str) -> None:
    if algo not in ALGOS:
        raise ValueError(f"convkernels.{op}: algo must be one of {ALGOS}, got {algo!r}")


def _kernel_supports(call: Call) -> str:
    # Every groups value runs on both kernel backends: groups > 1 goes to the grouped /
    # depthwise kernels inside the conv2d_fused primitive (see convkernels/ops/depthwise.py).
    return ""


def _conv_fused(backend: str, input, weight, scale, shift, residual, g, relu) -> Tensor:
    """Run the conv2d_fused primitive on a kernel backend. The cuda op is told the float32
    mode (its trailing ``split_tf32``: tf32x3); the triton kernels read it themselves."""
    return _library.op(backend, "conv2d_fused")(
        input, weight, scale, shift, residual, list(g.stride), list(g.padding), list(g.dilation),
        g.groups, relu, *cuda_split_tf32_args(backend, input.dtype))


# ---- conv2d ---------------------------------------------------------------------------------

def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1, *, algo: str = "auto",
           backend: Optional[str] = None) -> Tensor:
    """2-D convolution, equal to :func:`torch.nn.functional.conv2d`.

    ``algo="direct"`` asks for our implicit-GEMM kernel (no im2col buffer; bias applied in
    the epilogue; on the torch backend: eager ``F.conv2d``, the direct convolution's
    reference); ``"winograd_2x2"`` / ``"winograd_4x4"`` for Winograd F(2x2,3x3) /
    F(4x4,3x3) (3x3, stride 1, dilation 1, groups 1 only; see
    :mod:`convkernels.ops.winograd`); ``"auto"`` chooses per layer (see
    :func:`convkernels.explain`; cuDNN for the torch backend). Intended difference whenever
    Winograd runs (chosen, or picked by ``"auto"`` on a kernel backend): a single Inf or NaN
    input spreads over whole output tiles, as in cuDNN's Winograd (see
    :mod:`convkernels.ops.winograd`).
    Inputs may be NCHW or channels_last (the output follows the input), float32, float16 or
    bfloat16 (float64 on the torch backend); an unbatched ``[C, H, W]`` input gives a
    ``[K, P, Q]`` output, and ``C == 0`` gives torch's empty ``[N, 0, P, Q]`` result (a weight
    with no output channel raises, as in torch). ``groups > 1`` runs the grouped kernel, and
    ``groups == C`` (weight [multiplier*C, 1, R, S]) the depthwise one. Backward: depthwise
    convolutions use our own input- and weight-gradient kernels; every other case gets its
    gradients from aten's ``convolution_backward`` (cuDNN on a GPU).

    Example::

        >>> x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
        >>> y = convkernels.ops.conv2d(x, w, padding=1)
        >>> y.shape
        torch.Size([2, 4, 8, 8])
    """
    if (algo == "auto" or algo == "direct") and straight_to_torch(backend, input):
        out = torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
        if out is not None:
            return out
    if is_unbatched(input, weight):
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups,
                      algo=algo, backend=backend).squeeze(0)
    g, extra = _checks.check_conv2d("conv2d", input, weight, bias, stride, padding, dilation,
                                    groups)
    _check_algo("conv2d", algo)
    if g.C == 0:   # torch's result for no input channel: empty, whatever K (nothing to run)
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    input = pad_same_extra(input, extra)
    grad = needs_grad(input, weight, bias)
    algo, backend = _winograd.route("conv2d", input, g, algo, backend, grad)
    if algo in _winograd.ALGOS:
        return _winograd.conv2d_affine(input, weight, None, bias, None, g, False, algo, backend)
    fn = choose("conv2d", backend, input, needs_grad=grad, groups=g.groups,
                extra={"algo": algo})
    return fn(input, weight, bias, g)


# algo="direct" on the torch backend is the reference of the direct convolution, as the
# Winograd algos there run the reference transforms: eager aten (cuDNN picks its own kernel).
@register("conv2d", "torch")
def _conv2d_torch(input, weight, bias, g):
    return F.conv2d(input, weight, bias, g.stride, g.padding, g.dilation, g.groups)


def _conv2d_kernels(backend, input, weight, bias, g):
    return _conv_fused(backend, input, weight, None, as_f32(bias), None, g, False)


# ---- conv2d_affine: the folded-BN convolution -------------------------------------------------

def conv2d_affine(input: Tensor, weight: Tensor, scale: Optional[Tensor],
                  shift: Optional[Tensor], stride=1, padding=0, dilation=1, groups: int = 1, *,
                  relu: bool = False, residual: Optional[Tensor] = None,
                  algo: str = "auto", backend: Optional[str] = None) -> Tensor:
    """``act(conv2d(input, weight) * scale[k] + shift[k] + residual)`` in one pass.

    ``algo`` as in :func:`conv2d`: the Winograd kernels apply the same epilogue.

    The epilogue runs on the float32 accumulator, so the output is rounded once. This is
    the inference form of conv + BatchNorm (+ residual) + ReLU once BN is folded with
    :func:`fold_batch_norm`; :class:`convkernels.nn.ConvBNReLU2d` caches that fold.
    """
    if (algo == "auto" or algo == "direct") and straight_to_torch(backend, input):
        out = torch_result(_affine_composition, input, weight, scale, shift, residual, stride,
                           padding, dilation, groups, relu)
        if out is not None:
            return out
    key = _checks.call_key("conv2d_affine", (input, weight, scale, shift, residual),
                           (stride, padding, dilation, groups), (algo,))
    g, extra = _checks.remembered(_CHECKED_CALLS, key, lambda: _check_affine(
        input, weight, scale, shift, stride, padding, dilation, groups, residual, algo))
    input = pad_same_extra(input, extra)
    if (algo == "auto" or algo == "direct") and straight_to_torch(backend, input):
        return _affine_torch(input, weight, scale, shift, residual, g, relu)
    grad = needs_grad(input, weight, scale, shift, residual)
    algo, backend = _winograd.route("conv2d_affine", input, g, algo, backend, grad)
    if algo in _winograd.ALGOS:
        return _winograd.conv2d_affine(input, weight, scale, shift, residual, g, relu, algo,
                                       backend, "conv2d_affine")
    fn = choose("conv2d_affine", backend, input, needs_grad=grad, groups=g.groups)
    return fn(input, weight, scale, shift, residual, g, relu)


def conv_guards_pass(input, weight, bias) -> bool:
    """The guards every straight composition of a fused conv op starts with: what its checks
    refuse and torch's conv2d takes (an unbatched, integer or channel-less input; a meta
    weight or bias, which torch's CPU convolution reads as uninitialized memory)."""
    return (input.ndim == 4 and input.dtype in FLOAT_DTYPES and input.shape[1] != 0
            and not weight.is_meta and (bias is None or not bias.is_meta))


def residual_fits(residual, y) -> bool:
    """Whether ``residual`` is what the checks ask for beside the convolution's output ``y``:
    its shape and dtype (the composition would broadcast or promote)."""
    return residual is None or (residual.shape == y.shape and residual.dtype == y.dtype)


def _affine_composition(input, weight, scale, shift, residual, stride, padding, dilation,
                        groups, relu):
    """conv2d_affine straight on the torch backend (see ``torch_result``): its reference with
    torch's conv2d on the caller's own arguments, or None where a guard refuses the call."""
    if not (conv_guards_pass(input, weight, None)
            and channel_vectors(weight.shape[0], scale, shift)):
        return None
    y = F.conv2d(input, weight, None, stride, padding, dilation, groups)
    if not residual_fits(residual, y):
        return None
    return reference.conv.affine_epilogue(y, input, scale, shift, residual, relu)


# The checks of the fused ops, remembered per call signature (see _checks.call_key).
_CHECKED_CALLS: dict = {}


def _check_affine(input, weight, scale, shift, stride, padding, dilation, groups, residual,
                  algo):
    g, extra = _checks.check_conv2d("conv2d_affine", input, weight, None, stride, padding,
                                    dilation, groups)
    conv_checks.check_input_channels("conv2d_affine", g)
    _checks.check_vector("conv2d_affine", "scale", scale, g.K)
    _checks.check_vector("conv2d_affine", "shift", shift, g.K)
    _checks.check_same_device("conv2d_affine", "input", input, scale=scale, shift=shift)
    conv_checks.check_residual("conv2d_affine", residual, input, g.output_shape)
    _check_algo("conv2d_affine", algo)
    return g, extra


@register("conv2d_affine", "torch")
def _affine_torch(input, weight, scale, shift, residual, g, relu):
    return reference.conv2d_fused(input, weight, scale, shift, residual, g.stride, g.padding,
                                  g.dilation, g.groups, relu)


def _affine_kernels(backend, input, weight, scale, shift, residual, g, relu):
    return _conv_fused(backend, input, weight, as_f32(scale), as_f32(shift), residual, g,
                       relu)


# ---- fused conv + BatchNorm + ReLU -----------------------------------------------------------

def fold_batch_norm(bias: Optional[Tensor], running_mean: Tensor, running_var: Tensor,
                    bn_weight: Optional[Tensor], bn_bias: Optional[Tensor], eps: float = 1e-5,
                    dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Fold inference BatchNorm (and a conv bias) into a per-channel scale and shift.

    ``bn(conv(x) + bias) = conv(x) * scale + shift`` with ``scale = gamma / sqrt(var + eps)``
    and ``shift = beta + (bias - mean) * scale`` (Ioffe & Szegedy's inference formula).
    Computed in ``dtype`` (float32 by default; pass float64 for float64 inputs, as
    :func:`fused_conv_bn_relu` and the modules do) and differentiable.
    """
    # As few aten calls as the formula allows (no no-op casts): on the host this is the cost.
    invstd = torch.rsqrt(_in(dtype, running_var) + eps)
    scale = invstd * _in(dtype, bn_weight) if bn_weight is not None else invstd
    mean = _in(dtype, running_mean)
    centered = _in(dtype, bias) - mean if bias is not None else torch.neg(mean)
    if bn_bias is None:
        return scale, centered * scale
    return scale, torch.addcmul(_in(dtype, bn_bias), centered, scale)


def _in(dtype: torch.dtype, v: Tensor) -> Tensor:
    return v if v.dtype == dtype else v.to(dtype)


def fused_conv_bn_relu(input: Tensor, weight: Tensor, bias: Optional[Tensor],
                       running_mean: Optional[Tensor], running_var: Optional[Tensor],
                       bn_weight: Optional[Tensor], bn_bias: Optional[Tensor], stride=1,
                       padding=0, dilation=1, groups: int = 1, *, eps: float = 1e-5,
                       momentum: float = 0.1, training: bool = False, relu: bool = True,
                       residual: Optional[Tensor] = None, algo: str = "auto",
                       backend: Optional[str] = None) -> Tensor:
    """``relu(batch_norm(conv2d(input)) + residual)`` as one operator.

    Equal to ``F.relu(F.batch_norm(F.conv2d(x, weight, bias, ...), running_mean, running_var,
    bn_weight, bn_bias, training, momentum, eps) + residual)``.

    * ``training=False``: BN is folded into the convolution's epilogue (scale/shift, residual
      add and ReLU on the accumulator): one read of the input, one write of the output.
    * ``training=True``: batch statistics per output channel; ``running_mean`` /
      ``running_var`` (when given) are updated in place exactly as ``F.batch_norm`` does
      (``momentum``, unbiased running variance); normalize + residual + ReLU run fused.
      Gradients flow to input, weight, bias and the BN affine parameters (the backward of
      the convolution is aten's ``convolution_backward``; BN's is our formula in
      :mod:`convkernels.ops.conv_primitives`).

    ``relu=False`` gives conv + BN (+ residual). ``algo`` as in :func:`conv2d`; the
    Winograd algorithms serve the inference form (``training=False``: the folded BN,
    residual and ReLU run in the Winograd kernels' epilogue). Example::

        >>> conv, bn = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8).eval()
        >>> y = convkernels.ops.fused_conv_bn_relu(
        ...     x, conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.weight,
        ...     bn.bias, stride=1, padding=1)
    """
    op = "fused_conv_bn_relu"
    if (algo == "auto" or algo == "direct") and straight_to_torch(backend, input):
        out = torch_result(_fused_composition, input, weight, bias, running_mean, running_var,
                           bn_weight, bn_bias, stride, padding, dilation, groups, eps,
                           momentum, training, relu, residual)
        if out is not None:
            return out
    key = _checks.call_key(op, (input, weight, bias, running_mean, running_var, bn_weight,
                                bn_bias, residual), (stride, padding, dilation, groups),
                           (eps, momentum, training, algo))
    g, extra = _checks.remembered(_CHECKED_CALLS, key, lambda: _check_fused(
        input, weight, bias, running_mean, running_var, bn_weight, bn_bias, stride, padding,
        dilation, groups, eps, momentum, training, residual, algo))
    input = pad_same_extra(input, extra)
    if (algo == "auto" or algo == "direct") and straight_to_torch(backend, input):
        return _fused_torch(input, weight, bias, running_mean, running_var, bn_weight, bn_bias,
                            g, float(eps), float(momentum), bool(training), bool(relu), residual)
    grad = needs_grad(input, weight, bias, bn_weight, bn_bias, residual)
    if not training:
        algo, backend = _winograd.route(op, input, g, algo, backend, grad)
        if algo in _winograd.ALGOS:
            scale, shift = fold_batch_norm(bias, running_mean, running_var, bn_weight, bn_bias,
                                           eps, dtype=reference.epilogue_dtype(input.dtype))
            return _winograd.conv2d_affine(input, weight, scale, shift, residual, g, relu, algo,
                                           backend, op)
    if training and g.N == 0:
        # An empty batch: torch returns the empty output and leaves the running statistics
        # alone (no batch statistics to merge); its composition does exactly that.
        backend = "torch"
    fn = choose(op, backend, input, needs_grad=grad, groups=g.groups)
    return fn(input, weight, bias, running_mean, running_var, bn_weight, bn_bias, g, float(eps),
              float(momentum), bool(training), bool(relu), residual)


def _check_fused(input, weight, bias, running_mean, running_var, bn_weight, bn_bias, stride,
                 padding, dilation, groups, eps, momentum, training, residual, algo):
    op = "fused_conv_bn_relu"
    g, extra = _checks.check_conv2d(op, input, weight, bias, stride, padding, dilation, groups)
    conv_checks.check_batch_norm(op, input, g.K, running_mean, running_var, bn_weight, bn_bias,
                                 training, eps, momentum)
    conv_checks.check_residual(op, residual, input, g.output_shape)
    conv_checks.check_input_channels(op, g)
    if training and g.N * g.P * g.Q == 1:
        raise ValueError(f"convkernels.{op}: expected more than 1 value per channel when "
                         f"training, got output of shape {list(g.output_shape)}")
    _check_algo(op, algo)
    if training and algo in _winograd.ALGOS:
        raise ValueError(f"convkernels.{op}: algo={algo!r} serves the inference form "
                         f"(training=False) only; training uses the direct kernel (algo='auto')")
    return g, extra


def _fused_composition(input, weight, bias, running_mean, running_var, bn_weight, bn_bias,
                       stride, padding, dilation, groups, eps, momentum, training, relu,
                       residual):
    """fused_conv_bn_relu straight on the torch backend (see ``torch_result``): the eager
    composition on the caller's own arguments, or None where a guard refuses the call.
    torch's conv2d and batch_norm refuse the rest of what the checks refuse themselves:
    vector lengths, dtypes and devices, eval without running statistics, a single value per
    channel in training. Every guard runs before batch_norm writes the running statistics."""
    if not (conv_guards_pass(input, weight, bias) and type(momentum) is not bool and eps >= 0
            and (running_mean is None) == (running_var is None)
            and channel_vectors(None, running_mean, running_var, bn_weight, bn_bias)):
        return None
    y = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    if not residual_fits(residual, y):
        return None
    return reference.conv.bn_relu_epilogue(y, running_mean, running_var, bn_weight, bn_bias,
                                           eps, momentum, training, relu, residual)


@register("fused_conv_bn_relu", "torch")
def _fused_torch(input, weight, bias, running_mean, running_var, bn_weight, bn_bias, g, eps,
                 momentum, training, relu, residual):
    return reference.conv_bn_relu(input, weight, bias, running_mean, running_var, bn_weight,
                                  bn_bias, g.stride, g.padding, g.dilation, g.groups, eps,
                                  momentum, training, relu, residual)


def _update_running_stats(running_mean, running_var, mean, var, count, momentum):
    """In-place exponential moving average, as F.batch_norm (unbiased running variance)."""
    with torch.no_grad():
        unbiased = var * (count / max(count - 1, 1))
        running_mean.copy_(running_mean * (1 - momentum) + mean.to(running_mean.dtype) * momentum)
        running_var.copy_(running_var * (1 - momentum) + unbiased.to(running_var.dtype) * momentum)


def _fused_kernels(backend: str, input, weight, bias, running_mean, running_var, bn_weight,
                   bn_bias, g, eps, momentum, training, relu, residual):
    if not training:
        scale, shift = fold_batch_norm(bias, running_mean, running_var, bn_weight, bn_bias, eps,
                                       dtype=reference.epilogue_dtype(input.dtype))
        return _conv_fused(backend, input, weight, scale, shift, residual, g, relu)
    y = _conv_fused(backend, input, weight, None, as_f32(bias), None, g, False)
    mean, var = _library.op(backend, "channel_moments")(y)
    if running_mean is not None:
        _update_running_stats(running_mean, running_var, mean.detach(), var.detach(),
                              g.N * g.P * g.Q, momentum)
    return _BatchNormTrainTail.apply(backend, y, mean, var, bn_weight, bn_bias, residual,
                                     eps, relu)


class _BatchNormTrainTail(torch.autograd.Function):
    """act(gamma * (y - mean) * rsqrt(var + eps) + beta + residual), mean/var from y's batch.

    The forward is the backend's scale_shift_relu kernel. The backward is the centered batch-norm
    formula (as aten's): grad_gamma = sum(g * xhat) with xhat = (y - mean) * invstd. Letting
    autograd differentiate scale * y + shift instead computes invstd * (sum(g * y) - mean *
    sum(g)): two large sums that cancel when |mean| >> std, with an error that grows with
    |mean| / std on top of the rounding y already carries.
    """

    @staticmethod
    def forward(ctx, backend, y, mean, var, gamma, beta, residual, eps, relu):
        invstd = torch.rsqrt(var + eps)
        scale = invstd * gamma.to(invstd.dtype) if gamma is not None else invstd
        shift = -mean * scale
        if beta is not None:
            shift = shift + beta.to(shift.dtype)
        out = _library.op(backend, "scale_shift_relu")(y, scale, shift, residual, relu)
        ctx.save_for_backward(y, mean, invstd, gamma, out if relu else None)
        ctx.flags = (relu, residual is not None, gamma is not None, beta is not None)
        ctx.beta_dtype = beta.dtype if beta is not None else None
        return out

    @staticmethod
    def backward(ctx, grad):
        y, mean, invstd, gamma, out = ctx.saved_tensors
        relu, has_residual, has_gamma, has_beta = ctx.flags
        acc = invstd.dtype
        g = torch.where(out > 0, grad, torch.zeros_like(grad)) if relu else grad
        g = g.to(acc)
        view = (1, -1, 1, 1)
        xhat = (y.to(acc) - mean.view(view)) * invstd.view(view)
        sum_g = g.sum((0, 2, 3))
        sum_g_xhat = (g * xhat).sum((0, 2, 3))
        count = y.numel() // y.shape[1]
        weight = invstd * gamma.to(acc) if has_gamma else invstd
        grad_y = weight.view(view) * (g - (sum_g.view(view) + xhat * sum_g_xhat.view(view))
                                      / count)
        need = ctx.needs_input_grad
        return (None, grad_y.to(y.dtype) if need[1] else None, None, None,
                sum_g_xhat.to(gamma.dtype) if has_gamma and need[4] else None,
                sum_g.to(ctx.beta_dtype) if has_beta and need[5] else None,
                g.to(grad.dtype) if has_residual and need[6] else None, None, None)


# The cuda and triton backends share each op's composition; only the primitives differ.
for _op, _impl in (("conv2d", _conv2d_kernels), ("conv2d_affine", _affine_kernels),
                   ("fused_conv_bn_relu", _fused_kernels)):
    for _backend in ("cuda", "triton"):
        register(_op, _backend, _kernel_supports)(functools.partial(_impl, _backend))
