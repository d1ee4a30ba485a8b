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


# ---- local_conv ----------------------------------------------------------------------------

def local_conv2d_fake(input, weight, bias, stride, padding, dilation):
    torch._check(input.dim() == 4 and weight.dim() == 6, lambda: "local_conv2d: 4-D input, "
                 "6-D weight")
    P, Q, K = weight.shape[:3]
    return empty_like_layout(input, (input.shape[0], K, P, Q))


FAKES["local_conv2d"] = local_conv2d_fake
