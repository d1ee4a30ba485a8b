"""Batch statistics across processes for the fused conv + BatchNorm layers.

A fused layer whose BatchNorm is a ``torch.nn.SyncBatchNorm`` (``ConvBNReLU2d(...,
sync_batch_norm=True)``, or any layer after ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
or ``convkernels.convert`` of a model that has one) computes what SyncBatchNorm computes:
the per-channel mean and variance of the batch of every process in its group.

* When: in training mode, with ``torch.distributed`` initialized and more than one process
  in the group, the conditions of ``SyncBatchNorm.forward``. Otherwise the layer runs the
  single-process fused path. Unlike torch's SyncBatchNorm, which refuses CPU tensors, this
  also runs on the CPU (gloo).
* Forward: each process computes (count, mean, M2) per channel with its backend's moment
  kernel; one ``all_gather_into_tensor`` collects them and every process merges them in
  rank order with Chan's formula (global mean first, then M2 shifted by it), so every
  process gets the same statistics bit for bit. A gather, not an all-reduce: counts differ
  between processes, and a sum of raw moments would cancel catastrophically when
  ``|mean| >> std``. The running statistics are updated as SyncBatchNorm does (unbiased
  variance with the global count). A process with an empty batch sends count 0 and takes
  part in every collective.
* Backward: one ``all_reduce`` of ``(sum(dy), sum(dy * xhat))`` per layer, the cross-process
  terms of the input gradient, as in SyncBatchNorm. ``gamma``/``beta`` gradients stay local
  (DDP averages them); a process with an empty batch gets zeros for them where torch's
  SyncBatchNorm leaves them ``None`` (the same once DDP reduces them).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist
from torch import Tensor

from . import _checks, _library, reference
from .backends import Call, layout_of, select
from .ops import conv2d, conv_checks

__all__ = ["sync_group", "sync_fused_conv_bn_relu"]

_DIMS = (0, 2, 3)
_VIEW = (1, -1, 1, 1)


def sync_group(bn: torch.nn.Module):
    """The process group ``bn``'s batch statistics are reduced over in this forward, or None
    (single-process statistics): SyncBatchNorm's own rule."""
    if not (isinstance(bn, torch.nn.SyncBatchNorm) and bn.training
            and dist.is_available() and dist.is_initialized()):
        return None
    group = bn.process_group or dist.group.WORLD
    return group if dist.get_world_size(group) > 1 else None


def _primitives(backend: str):
    """(channel_moments, scale_shift_relu) of ``backend``."""
    if backend == "torch":
        return reference.channel_moments, reference.scale_shift_relu
    return _library.op(backend, "channel_moments"), _library.op(backend, "scale_shift_relu")


def _global_moments(y: Tensor, channel_moments, group) -> tuple[Tensor, Tensor, Tensor]:
    """(mean, biased var, count) per channel over the batches of every process in ``group``."""
    channels, count = y.shape[1], y.numel() // y.shape[1]
    acc = reference.epilogue_dtype(y.dtype)
    local = torch.zeros(2 * channels + 1, dtype=acc, device=y.device)
    if count:
        mean, var = channel_moments(y)
        local[0] = count
        local[1:channels + 1] = mean
        local[channels + 1:] = var * count
    world = dist.get_world_size(group)
    gathered = local.new_empty(world * local.numel())
    dist.all_gather_into_tensor(gathered, local, group=group)
    gathered = gathered.view(world, -1)
    counts, means, m2s = gathered[:, :1], gathered[:, 1:channels + 1], gathered[:, channels + 1:]
    total = counts.sum()
    mean = (counts * means).sum(0) / total
    m2 = (m2s + counts * (means - mean).square()).sum(0)
    return mean, m2 / total, total


class _SyncBatchNormTail(torch.autograd.Function):
    """act(gamma * (y - mean) * invstd + beta + residual) with the group's statistics;
    the backward all-reduces the two per-channel sums the input gradient needs."""

    @staticmethod
    def forward(ctx, y, mean, var, total, gamma, beta, residual, eps, relu, scale_shift_relu,
                group):
        invstd = torch.rsqrt(var + eps)
        scale = invstd * gamma.to(invstd.dtype) if gamma is not None else invstd
        shift = -mean * scale
        if beta is not None:
            shift = shift + beta.to(shift.dtype)
        out = (scale_shift_relu(y, scale, shift, residual, relu) if y.numel()
               else torch.empty_like(y))
        ctx.save_for_backward(y, mean, invstd, total, gamma, out if relu else None)
        ctx.relu, ctx.group = relu, group
        ctx.has = (gamma is not None, beta is not None, residual is not None)
        ctx.beta_dtype = beta.dtype if beta is not None else None
        return out

    @staticmethod
    def backward(ctx, grad):
        y, mean, invstd, total, gamma, out = ctx.saved_tensors
        has_gamma, has_beta, has_residual = ctx.has
        acc = invstd.dtype
        g = torch.where(out > 0, grad, torch.zeros_like(grad)) if ctx.relu else grad
        g = g.to(acc)
        xhat = (y.to(acc) - mean.view(_VIEW)) * invstd.view(_VIEW)
        sum_g = g.sum(_DIMS)
        sum_g_xhat = (g * xhat).sum(_DIMS)
        need = ctx.needs_input_grad
        grad_y = None
        if need[0]:
            # Every process must reach this collective, an empty batch included (its sums
            # are zeros), as in SyncBatchNorm's backward.
            sums = torch.cat([sum_g, sum_g_xhat])
            dist.all_reduce(sums, group=ctx.group)
            all_g, all_g_xhat = sums.view(2, -1)
            weight = invstd * gamma.to(acc) if has_gamma else invstd
            grad_y = (weight.view(_VIEW) * (g - (all_g.view(_VIEW) + xhat * all_g_xhat.view(_VIEW))
                                            / total)).to(y.dtype)
        return (grad_y, None, None, None,
                sum_g_xhat.to(gamma.dtype) if has_gamma and need[4] else None,
                sum_g.to(ctx.beta_dtype) if has_beta and need[5] else None,
                g.to(grad.dtype) if has_residual and need[6] else None,
                None, None, None, None)


def _update_running_stats(running_mean: Tensor, running_var: Tensor, mean: Tensor,
                          var: Tensor, total: Tensor, momentum: float) -> None:
    """SyncBatchNorm's update: the running variance takes the unbiased global variance."""
    unbiased = var * (total / (total - 1))
    running_mean.copy_(running_mean * (1 - momentum) + mean.to(running_mean.dtype) * momentum)
    running_var.copy_(running_var * (1 - momentum) + unbiased.to(running_var.dtype) * momentum)


def sync_fused_conv_bn_relu(input: Tensor, weight: Tensor, bias: Optional[Tensor],
                            running_mean: Optional[Tensor], running_var: Optional[Tensor],
                            bn_weight: Optional[Tensor], bn_bias: Optional[Tensor], stride=1,
                            padding=0, dilation=1, groups: int = 1, *, group,
                            eps: float = 1e-5, momentum: float = 0.1, relu: bool = True,
                            residual: Optional[Tensor] = None,
                            backend: Optional[str] = None) -> Tensor:
    """The training form of :func:`convkernels.ops.fused_conv_bn_relu` with the batch
    statistics of every process in ``group`` (see the module docstring).

    The convolution, the per-process moments and the normalize + residual + ReLU epilogue
    run on the chosen backend's kernels, as in the single-process op; between them, one
    gather of the moments. Unlike the single-process op, one value per channel on this
    process is allowed (the group has more), as in SyncBatchNorm. Every process of
    ``group`` must call it, in the same order as its other collectives."""
    op = "fused_conv_bn_relu"
    g, _ = _checks.check_conv2d(op, input, weight, bias, stride, padding, dilation, groups)
    conv_checks.check_batch_norm(op, input, g.K, running_mean, running_var, bn_weight, bn_bias,
                             True, eps, momentum)
    conv_checks.check_residual(op, residual, input, g.output_shape)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad
        for t in (input, weight, bias, bn_weight, bn_bias, residual))
    call = Call(op, input.device, input.dtype, g.groups, needs_grad, layout=layout_of(input))
    # An empty batch has nothing to compute, only collectives to join: the torch backend
    # gives its empty conv output.
    chosen = "torch" if g.N == 0 else select(call, backend).backend
    channel_moments, scale_shift_relu = _primitives(chosen)
    y = conv2d(input, weight, bias, stride, padding, dilation, groups, algo="direct",
               backend=chosen)
    with torch.no_grad():
        mean, var, total = _global_moments(y.detach(), channel_moments, group)
        if running_mean is not None:
            _update_running_stats(running_mean, running_var, mean, var, total, momentum)
    return _SyncBatchNormTail.apply(y, mean, var, total, bn_weight, bn_bias, residual,
                                    float(eps), bool(relu), scale_shift_relu, group)
