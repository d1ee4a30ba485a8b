"""Resize-convolution: upsample (nearest or bilinear, integer scale) then convolve, without
ever materializing the upsampled image.

* ``mode="nearest"``: the conv over a nearest-upsampled image is, per output residue class,
  a conv over the low-resolution input with *phase-folded* weights (the taps that land on
  the same low-res pixel summed; see :mod:`convkernels.reference.resize_conv`). The fold
  is a differentiable einsum, cached per weight version when no gradient is needed; the
  kernels compute every class in one launch and write the interleaved output.
* ``mode="bilinear"``: the kernels interpolate each high-res operand value from four
  low-res pixels while loading it (``F.interpolate``'s source-index rule and border clamp).

Backward: nearest differentiates the folded formulation (one aten
``convolution_backward`` per residue class on the low-res input); bilinear uses aten's
composite backward (conv backward on the re-materialized upsampled input, then
``upsample_bilinear2d_backward``). See :mod:`convkernels.ops.resize_conv_primitives`.
"""

from __future__ import annotations

import functools
import weakref
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks, _library
from .._checks import FLOAT_DTYPES
from ..backends import Call, choose, register
from ..precision import cuda_split_tf32_args
from ..reference import resize_conv as ref
from . import resize_conv_checks, resize_conv_primitives  # noqa: F401  (registers the ops)
from ._common import as_f32, channel_vectors, needs_grad, straight_to_torch, torch_result
from .resize_conv_checks import RESIZE_MODES

__all__ = ["resize_conv2d", "resize_conv2d_affine", "fold_nearest_weight"]

# id(weight) -> (weakref to weight, key, folded): reused while the weight's version and the
# geometry are unchanged; an entry dies with its weight. (Tensors cannot key a
# WeakKeyDictionary: their __eq__ is elementwise.)
_FOLD_CACHE: dict[int, tuple] = {}


def fold_nearest_weight(weight: Tensor, scale_factor: int, padding, stride) -> Tensor:
    """Phase-folded weight ``[Lh, Lw, K, C, Th, Tw]`` for a nearest-``scale_factor``
    resize-conv (``L = s / gcd(s, stride)`` residue classes per dimension).

    Differentiable. When no gradient is needed the fold is cached on the weight object and
    recomputed only when ``weight._version`` (an in-place update such as an optimizer step)
    or the geometry changes; under autograd it is recomputed each call (cheap: K*C*k^2
    adds) so that every forward owns its graph.

    Example::

        >>> w = torch.randn(8, 4, 3, 3)
        >>> fold_nearest_weight(w, 2, 1, 1).shape   # 2x2 phases of 2x2 kernels
        torch.Size([2, 2, 8, 4, 2, 2])
    """
    padding = _checks.pair("fold_nearest_weight", "padding", padding)
    stride = _checks.pair("fold_nearest_weight", "stride", stride)
    if (torch.is_grad_enabled() and weight.requires_grad) or torch.compiler.is_compiling():
        return ref.fold_nearest_weight(weight, scale_factor, padding, stride)
    key = (weight._version, weight.data_ptr(), weight.dtype, weight.device, tuple(weight.shape),
           scale_factor, padding, stride)
    hit = _FOLD_CACHE.get(id(weight))
    if hit is not None and hit[0]() is weight and hit[1] == key:
        return hit[2]
    folded = ref.fold_nearest_weight(weight.detach(), scale_factor, padding, stride)
    if hit is None or hit[0]() is not weight:
        weakref.finalize(weight, _FOLD_CACHE.pop, id(weight), None)
    _FOLD_CACHE[id(weight)] = (weakref.ref(weight), key, folded)
    return folded


def resize_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
                  scale_factor: int = 2, mode: str = "nearest", padding=1, stride=1, *,
                  align_corners: bool = False, backend: Optional[str] = None) -> Tensor:
    """``F.conv2d(F.interpolate(input, scale_factor=scale_factor, mode=mode,
    align_corners=...), weight, bias, padding=padding, stride=stride)`` in one pass.

    The checkerboard-free replacement for a strided transposed convolution (Odena et al.,
    Distill 2016). ``scale_factor``: any integer >= 1; ``mode``: "nearest" or "bilinear"
    (``align_corners`` as in ``F.interpolate``, bilinear only); any kernel size, zero
    padding and stride on the upsampled grid, groups=1, dilation=1. float32 / float16 /
    bfloat16 (float64 on the torch backend), NCHW or channels_last (output follows input).

    Intended difference (nearest, cuda/triton backends): the phase-folded weights sum the
    taps that meet one low-res pixel before multiplying, so an infinite input gives
    ``(sum of taps) * inf`` (±inf) where the eager composition adds ``tap * inf`` products
    (NaN when those taps have mixed signs or a zero). Which outputs are non-finite is the
    same; finite inputs and NaN propagate as in torch.

    Example::

        >>> x, w = torch.randn(2, 8, 16, 16), torch.randn(4, 8, 3, 3)
        >>> y = convkernels.ops.resize_conv2d(x, w, scale_factor=2, mode="bilinear")
        >>> y.shape
        torch.Size([2, 4, 32, 32])
    """
    op = "resize_conv2d"
    if straight_to_torch(backend, input):
        out = torch_result(_composition, input, weight, None, bias, scale_factor, mode, padding,
                           stride, align_corners, False)
        if out is not None:
            return out
    key = _checks.call_key(op, (input, weight, bias), (padding, stride),
                           (scale_factor, mode, align_corners))
    geom = _checks.remembered(_CHECKED_CALLS, key, lambda: resize_conv_checks.check_resize_conv2d(
        op, input, weight, bias, scale_factor, mode, padding, stride, align_corners))
    if straight_to_torch(backend, input):
        return _torch_impl(input, weight, None, bias, geom, False)
    fn = choose(op, backend, input, needs_grad=needs_grad(input, weight, bias),
                extra={"mode": geom.mode})
    return fn(input, weight, None, bias, geom, False)


def resize_conv2d_affine(input: Tensor, weight: Tensor, scale: Optional[Tensor],
                         shift: Optional[Tensor], scale_factor: int = 2,
                         mode: str = "nearest", padding=1, stride=1, *,
                         align_corners: bool = False, relu: bool = False,
                         backend: Optional[str] = None) -> Tensor:
    """``act(resize_conv2d(input, weight) * scale[k] + shift[k])``: the fused epilogue.

    With ``scale, shift = convkernels.ops.fold_batch_norm(bias, running_mean, running_var,
    bn_weight, bn_bias, eps)`` this is resize-conv + inference BatchNorm (+ ReLU) in one
    kernel, as ``fused_conv_bn_relu`` does for a plain conv. The epilogue runs on the fp32
    accumulator: one rounding. Example::

        >>> scale, shift = convkernels.ops.fold_batch_norm(None, bn.running_mean,
        ...                                                bn.running_var, bn.weight, bn.bias)
        >>> y = convkernels.ops.resize_conv2d_affine(x, w, scale, shift, relu=True)
    """
    op = "resize_conv2d_affine"
    if straight_to_torch(backend, input):
        out = torch_result(_composition, input, weight, scale, shift, scale_factor, mode,
                           padding, stride, align_corners, bool(relu))
        if out is not None:
            return out
    key = _checks.call_key(op, (input, weight, scale, shift), (padding, stride),
                           (scale_factor, mode, align_corners))
    geom = _checks.remembered(_CHECKED_CALLS, key, lambda: _check_affine(
        input, weight, scale, shift, scale_factor, mode, padding, stride, align_corners))
    if straight_to_torch(backend, input):
        return _torch_impl(input, weight, scale, shift, geom, bool(relu))
    fn = choose(op, backend, input, needs_grad=needs_grad(input, weight, scale, shift),
                extra={"mode": geom.mode})
    return fn(input, weight, scale, shift, geom, bool(relu))


# The checks of both ops, remembered per call signature (see _checks.call_key).
_CHECKED_CALLS: dict = {}


def _check_affine(input, weight, scale, shift, scale_factor, mode, padding, stride,
                  align_corners):
    op = "resize_conv2d_affine"
    geom = resize_conv_checks.check_resize_conv2d(op, input, weight, None, scale_factor, mode,
                                                  padding, stride, align_corners)
    _checks.check_vector(op, "scale", scale, geom.conv.K)
    _checks.check_vector(op, "shift", shift, geom.conv.K)
    _checks.check_same_device(op, "input", input, scale=scale, shift=shift)
    return geom


def _torch_impl(input, weight, scale, shift, geom, relu):
    g = geom.conv
    return _torch_composition(input, weight, scale, shift, geom.scale_factor, geom.mode,
                              g.padding, g.stride, geom.align_corners, relu)


def _torch_composition(input, weight, scale, shift, scale_factor, mode, padding, stride,
                       align_corners, relu):
    if scale is None and not relu:
        # Plain resize_conv2d (its bias passed as ``shift``): exactly the eager composition.
        up = F.interpolate(input, scale_factor=scale_factor, mode=mode,
                           align_corners=align_corners if mode == "bilinear" else None)
        return F.conv2d(up, weight, shift, stride, padding)
    return ref.resize_conv2d_fused(input, weight, scale, shift, scale_factor, mode, padding,
                                   stride, align_corners, relu)


def _composition(input, weight, scale, shift, scale_factor, mode, padding, stride,
                 align_corners, relu):
    """Both ops straight on the torch backend (see ``torch_result``): the composition on the
    caller's own arguments, or None where a guard refuses what F.interpolate and F.conv2d
    would take but the checks refuse (another mode, a non-integer scale, a non-bool
    align_corners or one with "nearest", a string padding, a non-4-D or integer input,
    empty spatial sizes, a meta weight or bias, per-channel vectors of another shape)."""
    if not (mode in RESIZE_MODES and type(scale_factor) is int and scale_factor >= 1
            and type(align_corners) is bool and (mode == "bilinear" or not align_corners)
            and type(padding) is not str
            and input.ndim == 4 and input.dtype in FLOAT_DTYPES and input.shape[2] > 0
            and input.shape[3] > 0 and not weight.is_meta
            and (shift is None or not shift.is_meta)
            and channel_vectors(weight.shape[0], scale, shift)):
        return None
    return _torch_composition(input, weight, scale, shift, scale_factor, mode, padding, stride,
                              align_corners, relu)


def _kernel_impl(backend, input, weight, scale, shift, geom, relu):
    g = geom.conv
    scale, shift = as_f32(scale), as_f32(shift)
    split = cuda_split_tf32_args(backend, input.dtype)   # the cuda ops' float32 mode
    if geom.mode == "nearest":
        folded = fold_nearest_weight(weight, geom.scale_factor, g.padding, g.stride)
        return _library.op(backend, "resize_nearest_conv2d_fused")(
            input, folded, scale, shift, geom.scale_factor, list(g.padding), list(g.stride),
            [g.R, g.S], relu, *split)
    return _library.op(backend, "resize_bilinear_conv2d_fused")(
        input, weight, scale, shift, geom.scale_factor, list(g.padding), list(g.stride),
        geom.align_corners, relu, *split)


def _cuda_supports(call: Call) -> str:
    if not hasattr(torch.ops.convkernels, "cuda_resize_nearest_conv2d_fused"):
        return ("the loaded convkernels._C was built without the resize_conv kernels; rebuild "
                "it (python setup.py build_ext --inplace)")
    return ""


for _op in ("resize_conv2d", "resize_conv2d_affine"):
    register(_op, "torch")(_torch_impl)
    register(_op, "triton")(functools.partial(_kernel_impl, "triton"))
    register(_op, "cuda", _cuda_supports)(functools.partial(_kernel_impl, "cuda"))
