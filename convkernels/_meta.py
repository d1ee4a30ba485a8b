"""Fake (meta) kernels: output shapes, dtypes and strides without running anything.

Used by torch.compile, FakeTensor tracing and ``torch.library.opcheck``. One function per
primitive, registered for both its ``cuda_*`` and ``triton_*`` twins.
"""

from __future__ import annotations

import torch

from ._layout import empty_like_layout


def _conv_out_size(size, pad, dil, k, stride):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def conv2d_fused_fake(input, weight, scale, shift, residual, stride, padding, dilation, groups,
                      relu):
    torch._check(input.dim() == 4 and weight.dim() == 4, lambda: "conv2d_fused: 4-D tensors")
    N, _, H, W = input.shape
    K, _, R, S = weight.shape
    P = _conv_out_size(H, padding[0], dilation[0], R, stride[0])
    Q = _conv_out_size(W, padding[1], dilation[1], S, stride[1])
    return empty_like_layout(input, (N, K, P, Q))


def channel_moments_fake(input):
    C = input.shape[1]
    acc = torch.float64 if input.dtype == torch.float64 else torch.float32
    return (input.new_empty((C,), dtype=acc), input.new_empty((C,), dtype=acc))


def scale_shift_relu_fake(input, scale, shift, residual, relu):
    return empty_like_layout(input, input.shape)


FAKES = {
    "conv2d_fused": conv2d_fused_fake,
    "channel_moments": channel_moments_fake,
    "scale_shift_relu": scale_shift_relu_fake,
}


# ---- grouped / depthwise backward primitives --------------------------------------------------

def depthwise_backward_input_fake(grad_output, input, weight, stride, padding, dilation):
    return empty_like_layout(input, input.shape)


def depthwise_backward_weight_fake(grad_output, input, weight, stride, padding, dilation):
    return weight.new_empty(weight.shape)  # dense [K, 1, R, S]


FAKES["depthwise_backward_input"] = depthwise_backward_input_fake
FAKES["depthwise_backward_weight"] = depthwise_backward_weight_fake


def separable_conv2d_fused_fake(input, dw_weight, pw_weight, mid_scale, mid_shift, mid_relu,
                                scale, shift, relu, stride, padding, dilation):
    N, _, H, W = input.shape
    _, _, R, S = dw_weight.shape
    P = _conv_out_size(H, padding[0], dilation[0], R, stride[0])
    Q = _conv_out_size(W, padding[1], dilation[1], S, stride[1])
    return empty_like_layout(input, (N, pw_weight.shape[0], P, Q))


FAKES["separable_conv2d_fused"] = separable_conv2d_fused_fake

