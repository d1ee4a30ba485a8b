"""The depthwise family's primitives. Its forward convolutions run inside the conv family's
``conv2d_fused`` (``groups > 1``); the family adds:

* ``depthwise_backward_input`` / ``depthwise_backward_weight``: the gradient kernels that
  ``conv2d_fused``'s formula calls for a depthwise convolution (no autograd of their own);
* ``separable_conv2d_fused``: depthwise k x k + pointwise 1x1 in one kernel, the middle
  tensor kept on chip. Inference only (no autograd): ``ops.separable_conv2d`` uses it when no
  gradient is needed.

Per primitive: the ``triton_*`` custom op (its ``cuda_*`` twin's schema comes from C++) and
the fake kernel, registered for both twins.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from .. import _library
from .._meta import conv_output_size, empty_like_layout

PRIMITIVES = ("depthwise_backward_input", "depthwise_backward_weight",
              "separable_conv2d_fused")


# ---- triton_* custom ops (launchers imported lazily: Triton is optional) ---------------------

@torch.library.custom_op("convkernels::triton_depthwise_backward_input", mutates_args=())
def triton_depthwise_backward_input(grad_output: Tensor, input: Tensor, weight: Tensor,
                                    stride: Sequence[int], padding: Sequence[int],
                                    dilation: Sequence[int]) -> Tensor:
    from ..triton import depthwise
    return depthwise.depthwise_backward_input(grad_output, input, weight, list(stride),
                                              list(padding), list(dilation))


@torch.library.custom_op("convkernels::triton_depthwise_backward_weight", mutates_args=())
def triton_depthwise_backward_weight(grad_output: Tensor, input: Tensor, weight: Tensor,
                                     stride: Sequence[int], padding: Sequence[int],
                                     dilation: Sequence[int]) -> Tensor:
    from ..triton import depthwise
    return depthwise.depthwise_backward_weight(grad_output, input, weight, list(stride),
                                               list(padding), list(dilation))


@torch.library.custom_op("convkernels::triton_separable_conv2d_fused", mutates_args=())
def triton_separable_conv2d_fused(input: Tensor, dw_weight: Tensor, pw_weight: Tensor,
                                  mid_scale: Optional[Tensor], mid_shift: Optional[Tensor],
                                  mid_relu: bool, scale: Optional[Tensor],
                                  shift: Optional[Tensor], relu: bool, stride: Sequence[int],
                                  padding: Sequence[int], dilation: Sequence[int]) -> Tensor:
    from ..triton import depthwise_separable
    return depthwise_separable.separable_conv2d_fused(
        input, dw_weight, pw_weight, mid_scale, mid_shift, mid_relu, scale, shift, relu,
        list(stride), list(padding), list(dilation))


# ---- fake kernels -----------------------------------------------------------------------------

def depthwise_backward_input_fake(grad_output, input, weight, stride, padding, dilation):
    return empty_like_layout(input, input.shape)


def depthwise_backward_weight_fake(grad_output, input, weight, stride, padding, dilation):
    return weight.new_empty(weight.shape)  # dense [K, 1, R, S]


def separable_conv2d_fused_fake(input, dw_weight, pw_weight, mid_scale, mid_shift, mid_relu,
                                scale, shift, relu, stride, padding, dilation):
    N, _, H, W = input.shape
    _, _, R, S = dw_weight.shape
    P = conv_output_size(H, padding[0], dilation[0], R, stride[0])
    Q = conv_output_size(W, padding[1], dilation[1], S, stride[1])
    return empty_like_layout(input, (N, pw_weight.shape[0], P, Q))


FAKES = {
    "depthwise_backward_input": depthwise_backward_input_fake,
    "depthwise_backward_weight": depthwise_backward_weight_fake,
    "separable_conv2d_fused": separable_conv2d_fused_fake,
}
for _name in PRIMITIVES:
    _library.register(_name, FAKES[_name])
