"""The conv family's argument checks (the convolution geometry itself is
:func:`convkernels._checks.check_conv2d`, shared with the other convolution families)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .._checks import check_float_tensor, check_same_device, check_vector


def check_input_channels(op: str, g) -> None:
    # torch's conv2d returns [N, 0, P, Q] for C == 0, which no per-channel epilogue fits:
    # the unfused composition raises, so do we.
    if g.C == 0:
        raise ValueError(f"convkernels.{op}: expected an input with at least one channel, got "
                         f"input of shape [{g.N}, 0, {g.H}, {g.W}]")


def check_residual(op: str, residual: Optional[torch.Tensor], input: torch.Tensor,
                   out_shape: Sequence[int]) -> None:
    if residual is None:
        return
    check_float_tensor(op, "residual", residual)
    check_same_device(op, "input", input, residual=residual)
    if residual.dtype != input.dtype:
        raise TypeError(f"convkernels.{op}: residual dtype ({residual.dtype}) must match input "
                        f"dtype ({input.dtype})")
    if tuple(residual.shape) != tuple(out_shape):
        raise ValueError(f"convkernels.{op}: residual must have the output's shape "
                         f"{list(out_shape)}, got {list(residual.shape)}")


def check_batch_norm(op: str, input: torch.Tensor, K: int, running_mean, running_var,
                     bn_weight, bn_bias, training: bool, eps: float, momentum) -> None:
    """BN vectors: right length, device and float dtype; running stats present in eval."""
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("bn_weight", bn_weight), ("bn_bias", bn_bias)):
        check_vector(op, name, t, K)
        check_same_device(op, "input", input, **{name: t})
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"convkernels.{op}: running_mean and running_var must both be given "
                         f"or both be None")
    if not training and running_mean is None:
        raise ValueError(f"convkernels.{op}: running_mean and running_var are required when "
                         f"training=False")
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"convkernels.{op}: eps must be a non-negative number, got {eps!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        # BatchNorm2d(momentum=None) means a cumulative average; the module turns that into
        # a per-step factor (1 / num_batches_tracked) exactly as torch's _BatchNorm does.
        raise TypeError(f"convkernels.{op}: momentum must be a number, got {momentum!r}")
