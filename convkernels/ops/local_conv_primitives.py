"""The local_conv family's primitive: ``local_conv2d`` (locally connected convolution,
``out = local_conv2d(x, w) + b``).

The ``triton_*`` custom op (its ``cuda_*`` twin's schema comes from C++), the fake kernel and
the backward formula, registered for both twins. The backward recomputes the forward with the
pure-PyTorch reference (unfold + per-position GEMM) and differentiates it with autograd:
gradients as exact as the reference's, at the cost of one extra forward. The family has no
backward kernels.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from .. import _library
from .._meta import empty_like_layout

PRIMITIVES = ("local_conv2d",)


@torch.library.custom_op("convkernels::triton_local_conv2d", mutates_args=())
def triton_local_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor],
                        stride: Sequence[int], padding: Sequence[int],
                        dilation: Sequence[int]) -> Tensor:
    from ..triton import local_conv  # lazily: Triton is optional
    return local_conv.local_conv2d(input, weight, bias, list(stride), list(padding),
                                   list(dilation))


def local_conv2d_fake(input, weight, bias, stride, padding, dilation):
    torch._check(input.dim() == 4 and weight.dim() == 6, lambda: "local_conv2d: 4-D input, "
                 "6-D weight")
    P, Q, K = weight.shape[:3]
    return empty_like_layout(input, (input.shape[0], K, P, Q))


def local_conv2d_setup(ctx, inputs, output):
    x, w, b, stride, padding, dilation = inputs
    ctx.geometry = (list(stride), list(padding), list(dilation))
    ctx.save_for_backward(x, w, b)


def local_conv2d_backward(ctx, grad):
    from ..reference.local_conv import local_conv2d
    x, w, b = ctx.saved_tensors
    need = ctx.needs_input_grad[:3]
    leaves = [t.detach().requires_grad_(n) if t is not None else None
              for t, n in zip((x, w, b), need)]
    with torch.enable_grad():
        out = local_conv2d(*leaves, *ctx.geometry)
    wrt = [t for t in leaves if t is not None and t.requires_grad]
    grads = iter(torch.autograd.grad(out, wrt, grad))
    return tuple(next(grads) if t is not None and t.requires_grad else None
                 for t in leaves) + (None, None, None)


FAKES = {"local_conv2d": local_conv2d_fake}
FORMULAS = {"local_conv2d": (local_conv2d_backward, local_conv2d_setup)}
_library.register("local_conv2d", local_conv2d_fake, FORMULAS["local_conv2d"])
