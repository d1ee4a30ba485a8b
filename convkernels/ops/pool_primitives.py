"""The pool family's primitives: max, average, adaptive average, adaptive max pooling and
max-unpooling, each with its ``*_backward`` primitive.

Per primitive: the ``triton_*`` custom op (its ``cuda_*`` twin's schema comes from C++) and
the fake kernel, registered for both twins; a forward primitive also gets a backward formula,
which calls the ``*_backward`` primitive of the backend that ran the forward (gather form, no
atomics, deterministic). ``divisor_override`` 0 means None throughout.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .. import _library
from .._checks import pool_output_size
from .._meta import empty_like_layout

PRIMITIVES = ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
              "max_unpool2d")
BACKWARD_PRIMITIVES = ("max_pool2d_backward", "avg_pool2d_backward",
                       "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_backward",
                       "max_unpool2d_backward")


def pooled_size(input, kernel, stride, padding, dilation, ceil_mode) -> tuple[int, int]:
    """(OH, OW) of a pooling window configuration over ``input`` [N, C, H, W]."""
    return tuple(pool_output_size(input.shape[2 + d], kernel[d], stride[d], padding[d],
                                  dilation[d], ceil_mode) for d in range(2))


# ---- triton_* custom ops (launchers imported lazily: Triton is optional) ---------------------

def _launchers():
    from ..triton import pool
    return pool


@torch.library.custom_op("convkernels::triton_max_pool2d", mutates_args=())
def triton_max_pool2d(input: Tensor, kernel: Sequence[int], stride: Sequence[int],
                      padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool,
                      return_indices: bool) -> tuple[Tensor, Tensor]:
    OH, OW = pooled_size(input, kernel, stride, padding, dilation, ceil_mode)
    return _launchers().max_pool2d(input, list(kernel), list(stride), list(padding),
                                   list(dilation), OH, OW, return_indices)


@torch.library.custom_op("convkernels::triton_max_pool2d_backward", mutates_args=())
def triton_max_pool2d_backward(grad_output: Tensor, indices: Tensor, input_size: Sequence[int],
                               kernel: Sequence[int], stride: Sequence[int],
                               padding: Sequence[int], dilation: Sequence[int]) -> Tensor:
    return _launchers().max_pool2d_backward(grad_output, indices, *input_size, list(kernel),
                                            list(stride), list(padding), list(dilation))


@torch.library.custom_op("convkernels::triton_avg_pool2d", mutates_args=())
def triton_avg_pool2d(input: Tensor, kernel: Sequence[int], stride: Sequence[int],
                      padding: Sequence[int], ceil_mode: bool, count_include_pad: bool,
                      divisor_override: int) -> Tensor:
    OH, OW = pooled_size(input, kernel, stride, padding, (1, 1), ceil_mode)
    return _launchers().avg_pool2d(input, list(kernel), list(stride), list(padding), OH, OW,
                                   count_include_pad, divisor_override)


@torch.library.custom_op("convkernels::triton_avg_pool2d_backward", mutates_args=())
def triton_avg_pool2d_backward(grad_output: Tensor, input_size: Sequence[int],
                               kernel: Sequence[int], stride: Sequence[int],
                               padding: Sequence[int], count_include_pad: bool,
                               divisor_override: int) -> Tensor:
    return _launchers().avg_pool2d_backward(grad_output, *input_size, list(kernel),
                                            list(stride), list(padding), count_include_pad,
                                            divisor_override)


@torch.library.custom_op("convkernels::triton_adaptive_avg_pool2d", mutates_args=())
def triton_adaptive_avg_pool2d(input: Tensor, output_size: Sequence[int]) -> Tensor:
    return _launchers().adaptive_pool2d(input, *output_size, is_max=False,
                                        return_indices=False)[0]


@torch.library.custom_op("convkernels::triton_adaptive_avg_pool2d_backward", mutates_args=())
def triton_adaptive_avg_pool2d_backward(grad_output: Tensor, input_size: Sequence[int]
                                        ) -> Tensor:
    return _launchers().adaptive_pool2d_backward(grad_output, None, *input_size, is_max=False)


@torch.library.custom_op("convkernels::triton_adaptive_max_pool2d", mutates_args=())
def triton_adaptive_max_pool2d(input: Tensor, output_size: Sequence[int],
                               return_indices: bool) -> tuple[Tensor, Tensor]:
    return _launchers().adaptive_pool2d(input, *output_size, is_max=True,
                                        return_indices=return_indices)


@torch.library.custom_op("convkernels::triton_adaptive_max_pool2d_backward", mutates_args=())
def triton_adaptive_max_pool2d_backward(grad_output: Tensor, indices: Tensor,
                                        input_size: Sequence[int]) -> Tensor:
    return _launchers().adaptive_pool2d_backward(grad_output, indices, *input_size, is_max=True)


@torch.library.custom_op("convkernels::triton_max_unpool2d", mutates_args=())
def triton_max_unpool2d(input: Tensor, indices: Tensor, output_size: Sequence[int]) -> Tensor:
    return _launchers().max_unpool2d(input, indices, *output_size)


@torch.library.custom_op("convkernels::triton_max_unpool2d_backward", mutates_args=())
def triton_max_unpool2d_backward(grad_output: Tensor, indices: Tensor) -> Tensor:
    return _launchers().max_unpool2d_backward(grad_output, indices)


# ---- fake kernels -----------------------------------------------------------------------------

def with_indices_fake(input, shape, return_indices):
    """(output, indices) fakes of a max pool: indices are empty unless asked for."""
    out = empty_like_layout(input, shape)
    if return_indices:
        return out, empty_like_layout(input, shape, dtype=torch.int64)
    return out, input.new_empty((0,), dtype=torch.int64)


def max_pool2d_fake(input, kernel, stride, padding, dilation, ceil_mode, return_indices):
    N, C = input.shape[:2]
    OH, OW = pooled_size(input, kernel, stride, padding, dilation, ceil_mode)
    return with_indices_fake(input, (N, C, OH, OW), return_indices)


def avg_pool2d_fake(input, kernel, stride, padding, ceil_mode, count_include_pad,
                    divisor_override):
    N, C = input.shape[:2]
    OH, OW = pooled_size(input, kernel, stride, padding, (1, 1), ceil_mode)
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
    return with_indices_fake(input, (*input.shape[:2], output_size[0], output_size[1]),
                             return_indices)


def adaptive_max_pool2d_backward_fake(grad_output, indices, input_size):
    return _grad_input_fake(grad_output, input_size)


def max_unpool2d_fake(input, indices, output_size):
    return empty_like_layout(input, (*input.shape[:2], output_size[0], output_size[1]))


def max_unpool2d_backward_fake(grad_output, indices):
    return empty_like_layout(grad_output, indices.shape)


# ---- backward formulas: the same backend's *_backward primitive ------------------------------

def spatial_size(x) -> list:
    return [x.shape[2], x.shape[3]]


def max_pool2d_setup(ctx, inputs, output):
    x, kernel, stride, padding, dilation, ceil_mode, return_indices = inputs
    if not return_indices:
        raise RuntimeError("convkernels max_pool2d: the backward needs the indices; the op "
                           "asks for them whenever autograd is recording")
    ctx.args = (spatial_size(x), list(kernel), list(stride), list(padding), list(dilation))
    ctx.save_for_backward(output[1])
    ctx.mark_non_differentiable(output[1])


def max_pool2d_backward(ctx, grad, _grad_indices):
    (indices,) = ctx.saved_tensors
    gx = _library.op(ctx.backend, "max_pool2d_backward")(grad, indices, *ctx.args)
    return gx, None, None, None, None, None, None


def avg_pool2d_setup(ctx, inputs, output):
    x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override = inputs
    ctx.args = (spatial_size(x), list(kernel), list(stride), list(padding), count_include_pad,
                divisor_override)


def avg_pool2d_backward(ctx, grad):
    gx = _library.op(ctx.backend, "avg_pool2d_backward")(grad, *ctx.args)
    return gx, None, None, None, None, None, None


def adaptive_avg_pool2d_setup(ctx, inputs, output):
    ctx.input_size = spatial_size(inputs[0])


def adaptive_avg_pool2d_backward(ctx, grad):
    return _library.op(ctx.backend, "adaptive_avg_pool2d_backward")(grad, ctx.input_size), None


def adaptive_max_pool2d_setup(ctx, inputs, output):
    x, output_size, return_indices = inputs
    if not return_indices:
        raise RuntimeError("convkernels adaptive_max_pool2d: the backward needs the indices")
    ctx.input_size = spatial_size(x)
    ctx.save_for_backward(output[1])
    ctx.mark_non_differentiable(output[1])


def adaptive_max_pool2d_backward(ctx, grad, _grad_indices):
    (indices,) = ctx.saved_tensors
    gx = _library.op(ctx.backend, "adaptive_max_pool2d_backward")(grad, indices,
                                                                  ctx.input_size)
    return gx, None, None


def max_unpool2d_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[1])


def max_unpool2d_backward(ctx, grad):
    (indices,) = ctx.saved_tensors
    return _library.op(ctx.backend, "max_unpool2d_backward")(grad, indices), None, None


FAKES = {
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
}
FORMULAS = {
    "max_pool2d": (max_pool2d_backward, max_pool2d_setup),
    "avg_pool2d": (avg_pool2d_backward, avg_pool2d_setup),
    "adaptive_avg_pool2d": (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_setup),
    "adaptive_max_pool2d": (adaptive_max_pool2d_backward, adaptive_max_pool2d_setup),
    "max_unpool2d": (max_unpool2d_backward, max_unpool2d_setup),
}
for _name in PRIMITIVES + BACKWARD_PRIMITIVES:
    _library.register(_name, FAKES[_name], FORMULAS.get(_name))
