"""The resize_conv family's argument checks: conv2d(interpolate(x, scale_factor, mode), w)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import ConvGeometry, check_conv2d, check_float_tensor, check_same_device

RESIZE_MODES = ("nearest", "bilinear")


@dataclass(frozen=True)
class ResizeConvGeometry:
    """A validated resize-convolution: upsample by ``scale_factor``, then a dense conv."""

    conv: ConvGeometry  # the convolution on the upsampled image (H, W are the high-res sizes)
    scale_factor: int
    mode: str
    align_corners: bool

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return self.conv.output_shape


def check_resize_conv2d(op: str, input, weight, bias, scale_factor, mode, padding, stride,
                        align_corners) -> ResizeConvGeometry:
    """Validate a resize-conv call: the conv checks on the upsampled shape, plus the resize's."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"convkernels.{op}: mode must be one of {RESIZE_MODES}, got {mode!r}")
    if isinstance(scale_factor, float) and scale_factor.is_integer():
        scale_factor = int(scale_factor)
    if isinstance(scale_factor, bool) or not isinstance(scale_factor, int) or scale_factor < 1:
        raise ValueError(f"convkernels.{op}: scale_factor must be an integer >= 1, got "
                         f"{scale_factor!r}")
    if not isinstance(align_corners, bool):
        raise TypeError(f"convkernels.{op}: align_corners must be a bool, got {align_corners!r}")
    if align_corners and mode == "nearest":
        raise ValueError(f"convkernels.{op}: align_corners option can only be set with the "
                         f"bilinear mode (as in F.interpolate)")
    if isinstance(padding, str):
        raise ValueError(f"convkernels.{op}: padding must be an int or a pair of ints, got "
                         f"{padding!r}")
    check_float_tensor(op, "input", input)
    check_float_tensor(op, "weight", weight)
    if input.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected 4-D input [N, C, H, W], got "
                         f"{input.dim()}-D input of shape {list(input.shape)}")
    # The conv checks see the upsampled shape; a meta tensor costs nothing.
    N, C, H, W = input.shape
    up = torch.empty((N, C, H * scale_factor, W * scale_factor), dtype=input.dtype,
                     device="meta")
    check_same_device(op, "input", input, weight=weight, bias=bias)
    if H <= 0 or W <= 0:
        raise ValueError(f"convkernels.{op}: input spatial size must be non-zero, got input of "
                         f"shape {list(input.shape)}")
    meta = lambda t: None if t is None else t.to("meta")  # noqa: E731
    conv, _ = check_conv2d(op, up, meta(weight), meta(bias), stride, padding, 1, 1)
    return ResizeConvGeometry(conv, scale_factor, mode, align_corners)
