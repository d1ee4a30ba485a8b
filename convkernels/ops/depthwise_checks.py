"""The depthwise family's argument checks (the convolution geometry itself is
:func:`convkernels._checks.check_conv2d`)."""

from __future__ import annotations

from .._checks import check_float_tensor, check_same_device


def check_depthwise_weight(op: str, input, weight, bias=None) -> None:
    """weight [multiplier * C, 1, kH, kW] for a 4-D input [N, C, H, W], all on one device."""
    check_float_tensor(op, "input", input, ndim=4)
    check_float_tensor(op, "weight", weight, ndim=4)
    check_same_device(op, "input", input, weight=weight, bias=bias)
    C, K = input.shape[1], weight.shape[0]
    if weight.shape[1] != 1 or C == 0 or K % C != 0 or K == 0:
        raise ValueError(f"convkernels.{op}: depthwise weight must have shape "
                         f"[multiplier * C, 1, kH, kW] with C={C} input channels, got "
                         f"{list(weight.shape)}")


def check_pointwise_weight(op: str, weight, input, in_channels: int) -> None:
    """weight [K, in_channels, 1, 1] of the 1x1 stage of a separable convolution."""
    check_float_tensor(op, "pointwise_weight", weight, ndim=4)
    if weight.dtype != input.dtype:
        raise TypeError(f"convkernels.{op}: pointwise_weight dtype ({weight.dtype}) must match "
                        f"input dtype ({input.dtype})")
    if weight.shape[1] != in_channels or weight.shape[2:] != (1, 1):
        raise ValueError(f"convkernels.{op}: pointwise_weight must have shape "
                         f"[out_channels, {in_channels}, 1, 1], got {list(weight.shape)}")
