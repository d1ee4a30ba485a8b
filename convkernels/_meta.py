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


# ==== pooling and local response normalization (op families: pool, lrn) =====================

def _pool_out(size, k, s, p, d, ceil_mode):
    from ._checks import pool_output_size
    return pool_output_size(size, k, s, p, d, ceil_mode)


def _with_indices(input, shape, return_indices):
    out = empty_like_layout(input, shape)
    if return_indices:
        return out, empty_like_layout(input, shape, dtype=torch.int64)
    return out, input.new_empty((0,), dtype=torch.int64)


def max_pool2d_fake(input, kernel, stride, padding, dilation, ceil_mode, return_indices):
    N, C, H, W = input.shape
    OH = _pool_out(H, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    OW = _pool_out(W, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    return _with_indices(input, (N, C, OH, OW), return_indices)


def avg_pool2d_fake(input, kernel, stride, padding, ceil_mode, count_include_pad,
                    divisor_override):
    N, C, H, W = input.shape
    OH = _pool_out(H, kernel[0], stride[0], padding[0], 1, ceil_mode)
    OW = _pool_out(W, kernel[1], stride[1], padding[1], 1, ceil_mode)
    return empty_like_layout(input, (N, C, OH, OW))


def _grad_input_fake(grad_output, input_size):
    N, C = grad_output.shape[:2]
    return empty_like_layout(grad_output, (N, C, input_size[0], input_size[1]))


def max_pool2d_backward_fake(grad_output, indices, input_size, kernel, stride, padding,
                             dilation):
    return _grad_input_fake(grad_output, input_size)


def avg_pool2d_backward_fake(grad_output, input_size, kernel, stride, padding,
                             count_include_pad, divisor_override):
    return _grad_input_fake(grad_output, input_size)


def adaptive_avg_pool2d_fake(input, output_size):
    return empty_like_layout(input, (*input.shape[:2], output_size[0], output_size[1]))


def adaptive_avg_pool2d_backward_fake(grad_output, input_size):
    return _grad_input_fake(grad_output, input_size)


def adaptive_max_pool2d_fake(input, output_size, return_indices):
    return _with_indices(input, (*input.shape[:2], output_size[0], output_size[1]),
                         return_indices)


def adaptive_max_pool2d_backward_fake(grad_output, indices, input_size):
    return _grad_input_fake(grad_output, input_size)


def max_unpool2d_fake(input, indices, output_size):
    return empty_like_layout(input, (*input.shape[:2], output_size[0], output_size[1]))


def max_unpool2d_backward_fake(grad_output, indices):
    return empty_like_layout(grad_output, indices.shape)


def local_response_norm_fake(input, size, alpha, beta, k):
    return empty_like_layout(input, input.shape)


def local_response_norm_backward_fake(grad_output, input, size, alpha, beta, k):
    return empty_like_layout(grad_output, input.shape)


def lrn_max_pool2d_fake(input, size, alpha, beta, k, kernel, stride, padding, dilation,
                        ceil_mode, pool_first, return_indices):
    return max_pool2d_fake(input, kernel, stride, padding, dilation, ceil_mode, return_indices)


FAKES.update({
    "max_pool2d": max_pool2d_fake,
    "max_pool2d_backward": max_pool2d_backward_fake,
    "avg_pool2d": avg_pool2d_fake,
    "avg_pool2d_backward": avg_pool2d_backward_fake,
    "adaptive_avg_pool2d": adaptive_avg_pool2d_fake,
    "adaptive_avg_pool2d_backward": adaptive_avg_pool2d_backward_fake,
    "adaptive_max_pool2d": adaptive_max_pool2d_fake,
    "adaptive_max_pool2d_backward": adaptive_max_pool2d_backward_fake,
    "max_unpool2d": max_unpool2d_fake,
    "max_unpool2d_backward": max_unpool2d_backward_fake,
    "local_response_norm": local_response_norm_fake,
    "local_response_norm_backward": local_response_norm_backward_fake,
    "lrn_max_pool2d": lrn_max_pool2d_fake,
})

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
# ---- winograd -------------------------------------------------------------------------------

def winograd_filter_transform_fake(weight, tile):
    alpha = tile + 2
    return weight.new_empty((alpha * alpha, weight.shape[0], weight.shape[1]))


def winograd_conv2d_fused_fake(input, weight, transformed_weight, scale, shift, residual,
                               padding, tile, relu):
    return conv2d_fused_fake(input, weight, scale, shift, residual, [1, 1], padding, [1, 1], 1,
                             relu)


FAKES["winograd_filter_transform"] = winograd_filter_transform_fake
FAKES["winograd_conv2d_fused"] = winograd_conv2d_fused_fake

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

# ---- local_conv ----------------------------------------------------------------------------

def local_conv2d_fake(input, weight, bias, stride, padding, dilation):
    torch._check(input.dim() == 4 and weight.dim() == 6, lambda: "local_conv2d: 4-D input, "
                 "6-D weight")
    P, Q, K = weight.shape[:3]
    return empty_like_layout(input, (input.shape[0], K, P, Q))


FAKES["local_conv2d"] = local_conv2d_fake
