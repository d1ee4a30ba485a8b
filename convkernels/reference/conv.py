"""Reference convolution primitives (conv2d_fused, channel_moments, scale_shift_relu) and
the unfused conv -> BatchNorm -> ReLU chain."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .._layout import follow_layout


def epilogue_dtype(dtype: torch.dtype) -> torch.dtype:
    """Precision of epilogue math and of per-channel parameters (folded BN, bias) for an
    input of ``dtype``: float32 at least, float64 stays float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _per_channel(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (v if v.dtype == dtype else v.to(dtype)).view(1, -1, 1, 1)


def conv2d_fused(input: torch.Tensor, weight: torch.Tensor, scale: Optional[torch.Tensor],
                 shift: Optional[torch.Tensor], residual: Optional[torch.Tensor],
                 stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                 groups: int, relu: bool) -> torch.Tensor:
    """act(conv(input, weight) * scale + shift + residual)."""
    y = F.conv2d(input, weight, None, stride, padding, dilation, groups)
    return affine_epilogue(y, input, scale, shift, residual, relu)


def affine_epilogue(y: torch.Tensor, input: torch.Tensor, scale: Optional[torch.Tensor],
                    shift: Optional[torch.Tensor], residual: Optional[torch.Tensor],
                    relu: bool) -> torch.Tensor:
    """The epilogue of :func:`conv2d_fused` on a convolution's result ``y``: per-channel
    scale and shift, residual and ReLU in the epilogue precision, one rounding back, and the
    output's memory format taken from ``input``."""
    if scale is None and shift is None and residual is None and not relu:
        return follow_layout(y, input)
    acc = epilogue_dtype(input.dtype)
    # The first step makes a new tensor; the later ones update it in place (no autograd
    # formula here needs the values they overwrite), and no-op casts are skipped: on small
    # tensors each extra op or cast is a measurable part of the call.
    z = y if y.dtype == acc else y.to(acc)
    owned = z is not y
    if scale is not None and shift is not None:
        # One op for both (torch.addcmul: shift + z * scale).
        z, owned = torch.addcmul(_per_channel(shift, acc), z, _per_channel(scale, acc)), True
        shift = None
    elif scale is not None:
        z, owned = z * _per_channel(scale, acc), True
    if shift is not None:
        shift = _per_channel(shift, acc)
        z, owned = (z.add_(shift) if owned else z + shift), True
    if residual is not None:
        residual = residual if residual.dtype == acc else residual.to(acc)
        z, owned = (z.add_(residual) if owned else z + residual), True
    if relu:
        z = z.relu_() if owned else torch.relu(z)
    out = z if z.dtype == input.dtype else z.to(input.dtype)
    return follow_layout(out, input)


def channel_moments(input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance over N, H, W, in float32 (float64 stays)."""
    x = input.to(epilogue_dtype(input.dtype))
    var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
    return mean, var


def scale_shift_relu(input: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor,
                     residual: Optional[torch.Tensor], relu: bool) -> torch.Tensor:
    acc = epilogue_dtype(input.dtype)
    z = input.to(acc) * _per_channel(scale, acc) + _per_channel(shift, acc)
    if residual is not None:
        z = z + residual.to(acc)
    if relu:
        z = torch.relu(z)
    return follow_layout(z.to(input.dtype), input)


def conv_bn_relu(input, weight, bias, running_mean, running_var, bn_weight, bn_bias, stride,
                 padding, dilation, groups, eps, momentum, training, relu, residual):
    """The eager three-op composition a user would write (cuDNN conv on a GPU)."""
    y = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return bn_relu_epilogue(y, running_mean, running_var, bn_weight, bn_bias, eps, momentum,
                            training, relu, residual)


def bn_relu_epilogue(y, running_mean, running_var, bn_weight, bn_bias, eps, momentum,
                     training, relu, residual):
    """The part of :func:`conv_bn_relu` after the convolution ``y``: BatchNorm, residual,
    ReLU (training updates the running statistics in place)."""
    y = F.batch_norm(y, running_mean, running_var, bn_weight, bn_bias, training, momentum, eps)
    if residual is not None:
        y = y + residual
    return torch.relu(y) if relu else y
