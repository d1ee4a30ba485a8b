"""Reference depthwise-separable convolution: depthwise k x k -> (scale, shift, ReLU) ->
pointwise 1x1 -> (scale, shift, ReLU), each stage an aten convolution and
:func:`affine_epilogue` (epilogue in float32, one rounding per stage)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .conv import affine_epilogue


def separable_conv2d(input: torch.Tensor, depthwise_weight: torch.Tensor,
                     pointwise_weight: torch.Tensor, mid_scale: Optional[torch.Tensor],
                     mid_shift: Optional[torch.Tensor], mid_relu: bool,
                     out_scale: Optional[torch.Tensor], out_shift: Optional[torch.Tensor],
                     relu: bool, stride: Sequence[int], padding: Sequence[int],
                     dilation: Sequence[int]) -> torch.Tensor:
    """pointwise(act(depthwise(input) * mid_scale + mid_shift)) * out_scale + out_shift, act.

    The middle tensor keeps whatever layout the depthwise convolution gives it when it has
    no epilogue (it is not an output; copying it to the input's layout would cost a pass);
    the output follows the input's layout."""
    mid = F.conv2d(input, depthwise_weight, None, stride, padding, dilation, input.shape[1])
    if mid_scale is not None or mid_shift is not None or mid_relu:
        mid = affine_epilogue(mid, input, mid_scale, mid_shift, None, mid_relu)
    return affine_epilogue(F.conv2d(mid, pointwise_weight), input, out_scale, out_shift, None,
                           relu)
