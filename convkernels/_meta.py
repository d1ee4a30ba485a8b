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


# ---- resize_conv ---------------------------------------------------------------------------

def _resize_out(size, scale_factor, kernel, pad, stride):
    return (size * scale_factor + 2 * pad - kernel) // stride + 1


def resize_nearest_conv2d_fused_fake(input, folded_weight, scale, shift, scale_factor, padding,
                                     stride, kernel_size, relu):
    torch._check(input.dim() == 4 and folded_weight.dim() == 6,
                 lambda: "resize_nearest_conv2d_fused: 4-D input, 6-D folded weight")
    N, _, H, W = input.shape
    P = _resize_out(H, scale_factor, kernel_size[0], padding[0], stride[0])
    Q = _resize_out(W, scale_factor, kernel_size[1], padding[1], stride[1])
    return empty_like_layout(input, (N, folded_weight.shape[2], P, Q))


def resize_bilinear_conv2d_fused_fake(input, weight, scale, shift, scale_factor, padding,
                                      stride, align_corners, relu):
    torch._check(input.dim() == 4 and weight.dim() == 4,
                 lambda: "resize_bilinear_conv2d_fused: 4-D tensors")
    N, _, H, W = input.shape
    K, _, R, S = weight.shape
    P = _resize_out(H, scale_factor, R, padding[0], stride[0])
    Q = _resize_out(W, scale_factor, S, padding[1], stride[1])
    return empty_like_layout(input, (N, K, P, Q))


FAKES["resize_nearest_conv2d_fused"] = resize_nearest_conv2d_fused_fake
FAKES["resize_bilinear_conv2d_fused"] = resize_bilinear_conv2d_fused_fake
# ---- winograd (issue 3) ----------------------------------------------------------------------

def winograd_filter_transform_fake(weight, tile):
    alpha = tile + 2
    return weight.new_empty((alpha * alpha, weight.shape[0], weight.shape[1]))


def winograd_conv2d_fused_fake(input, weight, transformed_weight, scale, shift, residual,
                               padding, tile, relu):
    return conv2d_fused_fake(input, weight, scale, shift, residual, [1, 1], padding, [1, 1], 1,
                             relu)


FAKES["winograd_filter_transform"] = winograd_filter_transform_fake
FAKES["winograd_conv2d_fused"] = winograd_conv2d_fused_fake
