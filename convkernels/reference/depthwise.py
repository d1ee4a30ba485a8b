"""Reference depthwise-separable convolution: depthwise k x k -> (scale, shift, ReLU) ->
pointwise 1x1 -> (scale, shift, ReLU), each stage through :func:`conv2d_fused` (aten
convolutions, epilogue in float32, one rounding per stage)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .conv import conv2d_fused


def separable_conv2d(input: torch.Tensor, depthwise_weight: torch.Tensor,
                     pointwise_weight: torch.Tensor, mid_scale: Optional[torch.Tensor],
                     mid_shift: Optional[torch.Tensor], mid_relu: bool,
                     out_scale: Optional[torch.Tensor], out_shift: Optional[torch.Tensor],
                     relu: bool, stride: Sequence[int], padding: Sequence[int],
                     dilation: Sequence[int]) -> torch.Tensor:
    """pointwise(act(depthwise(input) * mid_scale + mid_shift)) * out_scale + out_shift, act."""
    mid = conv2d_fused(input, depthwise_weight, mid_scale, mid_shift, None, stride, padding,
                       dilation, input.shape[1], mid_relu)
    return conv2d_fused(mid, pointwise_weight, out_scale, out_shift, None, (1, 1), (0, 0),
                        (1, 1), 1, relu)
