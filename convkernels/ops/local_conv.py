"""Locally connected 2-D convolution (unshared weights), as in DeepFace's L4-L6 layers.

Backends: ``cuda`` (csrc/kernels/local_conv: a SIMT tiled per-position GEMM, fp32
accumulate), ``triton`` (one fused gather + per-position tl.dot GEMM, convkernels/triton/
local_conv.py) and ``torch`` (the unfold + per-position GEMM reference). Backward (kernel
backends): gradients of the reference, recomputed (see
:mod:`convkernels.ops.local_conv_primitives`); no backward kernels.
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import Tensor

from .. import _checks, _library, reference
from .._checks import FLOAT_DTYPES
from ..backends import Call, choose, register
from . import local_conv_checks, local_conv_primitives  # noqa: F401  (registers the op)
from ._common import needs_grad, straight_to_torch, torch_result

__all__ = ["local_conv2d"]


def local_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                 padding=0, dilation=1, *, backend: Optional[str] = None) -> Tensor:
    """Locally connected convolution: a conv whose filters differ at every output position.

    ``input`` ``[N, C, H, W]``; ``weight`` ``[P, Q, K, C, kH, kW]`` where ``P x Q`` is the
    output size that ``stride``/``padding``/``dilation`` give; ``bias`` ``[K, P, Q]`` or None.
    ``out[n, k, p, q] = bias[k, p, q] + sum_{c,r,s} weight[p, q, k, c, r, s] *
    x_pad[n, c, p*stride_h + r*dilation_h, q*stride_w + s*dilation_w]``. With every
    ``weight[p, q]`` equal it is ``conv2d``. float32/float16/bfloat16/float64, NCHW or
    channels_last (the output follows the input). Gradients flow to input, weight and bias.

    Example::

        >>> x = torch.randn(2, 3, 8, 8)
        >>> w = torch.randn(6, 6, 4, 3, 3, 3)        # 6x6 output positions, 4 channels
        >>> convkernels.ops.local_conv2d(x, w).shape
        torch.Size([2, 4, 6, 6])
    """
    if straight_to_torch(backend, input):
        out = torch_result(_composition, input, weight, bias, stride, padding, dilation)
        if out is not None:
            return out
    g = _checks.remembered(
        _CHECKED_CALLS,
        _checks.call_key("local_conv2d", (input, weight, bias), (stride, padding, dilation), ()),
        lambda: local_conv_checks.check_local_conv2d("local_conv2d", input, weight, bias, stride,
                                                     padding, dilation))
    if straight_to_torch(backend, input) and g.N:
        return _local_conv2d_torch(input, weight, bias, g)
    fn = choose("local_conv2d", backend, input, needs_grad=needs_grad(input, weight, bias))
    if g.N == 0:
        return input.new_empty((0, weight.shape[2], g.P, g.Q))
    return fn(input, weight, bias, g)


# The checks of local_conv2d, remembered per call signature (see _checks.call_key).
_CHECKED_CALLS: dict = {}


def _composition(input, weight, bias, stride, padding, dilation):
    """local_conv2d straight on the torch backend (see ``torch_result``): the reference on the
    caller's own geometry, or None where a guard refuses what unfold + einsum would take but
    the checks refuse (an integer input, a weight or bias of another dtype, which the
    reference would cast; a meta weight or bias; a bias that would broadcast; a geometry
    that is not exact ints or int pairs, such as ``(1, True)``). The reference's einsum
    refuses a weight whose sizes do not fit the input, and unfold a bad geometry."""
    if not (input.dtype in FLOAT_DTYPES and weight.dtype == input.dtype and weight.ndim == 6
            and not weight.is_meta and _checks.plain_ints(stride)
            and _checks.plain_ints(padding) and _checks.plain_ints(dilation)
            and (bias is None or (bias.dtype == input.dtype and not bias.is_meta
                                  and bias.shape == weight.shape[2:3] + weight.shape[:2]))):
        return None
    return reference.local_conv2d(input, weight, bias, stride, padding, dilation)


@register("local_conv2d", "torch")
def _local_conv2d_torch(input, weight, bias, g):
    return reference.local_conv2d(input, weight, bias, g.stride, g.padding, g.dilation)


def _cuda_supports(call: Call) -> str:
    if not hasattr(torch.ops.convkernels, "cuda_local_conv2d"):
        return ("the loaded convkernels extension was built before the local_conv kernel "
                "existed; rebuild it (setup.py build_ext)")
    return ""


def _local_conv2d_kernels(backend, input, weight, bias, g):
    return _library.op(backend, "local_conv2d")(input, weight, bias, list(g.stride),
                                                list(g.padding), list(g.dilation))


register("local_conv2d", "triton")(functools.partial(_local_conv2d_kernels, "triton"))
register("local_conv2d", "cuda", _cuda_supports)(functools.partial(_local_conv2d_kernels, "cuda"))
