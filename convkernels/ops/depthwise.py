"""Depthwise and depthwise-separable convolution (Xception, MobileNet).

``depthwise_conv2d`` is ``conv2d`` with ``groups == C``: it runs the depthwise kernels of the
``conv2d_fused`` primitive (csrc/kernels/depthwise/, convkernels/triton/depthwise_grouped.py),
whose backward uses our own input- and weight-gradient kernels (deterministic, no atomics).
``separable_conv2d`` chains depthwise k x k -> optional folded BN + ReLU -> pointwise 1x1 ->
optional folded BN + ReLU. Grouped convolution (1 < groups < C) needs no op of its own: it is
``conv2d(..., groups=g)``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import _checks, _library, reference
from ..backends import choose, register
from ..precision import cuda_split_tf32_args
from . import depthwise_checks, depthwise_primitives  # noqa: F401  (registers the ops)
from ._common import (
    channel_vectors,
    needs_grad,
    pad_same_extra,
    straight_to_torch,
    torch_result,
)
from .conv import conv2d, conv_guards_pass, is_unbatched, torch_conv2d

__all__ = ["depthwise_conv2d", "separable_conv2d"]


def depthwise_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                     padding=0, dilation=1, *, backend: Optional[str] = None) -> Tensor:
    """Depthwise 2-D convolution: ``F.conv2d(input, weight, bias, ..., groups=C)``.

    ``weight`` is ``[multiplier * C, 1, kH, kW]``: each input channel ``c`` produces output
    channels ``c * multiplier ... c * multiplier + multiplier - 1`` (torch's order). Any
    kernel size (3, 5 and 7 have specialized kernels), stride, padding ('same'/'valid'
    included) and dilation; NCHW or channels_last (the output follows the input); float32,
    float16, bfloat16. Gradients: our depthwise input-gradient and weight-gradient kernels
    on the cuda and triton backends (weight gradient as a deterministic two-stage
    reduction); aten on the torch backend.

    Example::

        >>> x = torch.randn(2, 32, 56, 56)
        >>> w = torch.randn(64, 1, 3, 3)          # channel multiplier 2
        >>> convkernels.ops.depthwise_conv2d(x, w, padding=1).shape
        torch.Size([2, 64, 56, 56])
    """
    if straight_to_torch(backend, input) and input.dim() >= 3:
        out = torch_conv2d(input, weight, bias, stride, padding, dilation, input.shape[-3])
        if out is not None:
            return out
    if is_unbatched(input, weight):
        return depthwise_conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation,
                                backend=backend).squeeze(0)
    depthwise_checks.check_depthwise_weight("depthwise_conv2d", input, weight, bias)
    return conv2d(input, weight, bias, stride, padding, dilation, input.shape[1],
                  backend=backend)


def _fold_bias(bias: Optional[Tensor], scale: Optional[Tensor], shift: Optional[Tensor],
               dtype: torch.dtype) -> tuple[Optional[Tensor], Optional[Tensor]]:
    """(conv + bias) * scale + shift  ->  conv * scale + shift' in ``dtype`` (the epilogue's
    precision: float32, or float64 for float64 inputs)."""
    scale, shift, bias = (None if v is None else v.to(dtype) for v in (scale, shift, bias))
    if bias is not None:
        bias = bias * scale if scale is not None else bias
        shift = bias if shift is None else shift + bias
    return scale, shift


def separable_conv2d(input: Tensor, depthwise_weight: Tensor, pointwise_weight: Tensor,
                     depthwise_bias: Optional[Tensor] = None,
                     pointwise_bias: Optional[Tensor] = None, stride=1, padding=0, dilation=1,
                     *, mid_scale: Optional[Tensor] = None, mid_shift: Optional[Tensor] = None,
                     mid_relu: bool = False, scale: Optional[Tensor] = None,
                     shift: Optional[Tensor] = None, relu: bool = False,
                     backend: Optional[str] = None) -> Tensor:
    """Depthwise-separable convolution (Xception's SeparableConv2d, MobileNet's block).

    ``mid = act_mid((depthwise_conv2d(input, depthwise_weight) + depthwise_bias) *
    mid_scale + mid_shift)`` and ``out = act((conv2d(mid, pointwise_weight) +
    pointwise_bias) * scale + shift)``, where ``act_mid`` / ``act`` are ReLU when
    ``mid_relu`` / ``relu``. ``mid_scale``/``mid_shift`` and ``scale``/``shift`` are
    per-channel vectors: an inference BatchNorm folded with
    :func:`convkernels.ops.fold_batch_norm`. ``depthwise_weight`` is ``[M*C, 1, kH, kW]``,
    ``pointwise_weight`` ``[K, M*C, 1, 1]``. stride/padding/dilation apply to the depthwise
    stage. Each stage's epilogue runs in float32 (float64 for float64 inputs) and rounds
    once, so ``mid`` is rounded to the input dtype exactly as two separate convolutions
    would round it.

    Implementation: without autograd and for up to 256 output channels, one kernel computes
    the depthwise tile on chip and feeds it to the pointwise product (``mid`` never reaches
    memory): ``tl.dot`` on the triton backend (any dtype), mma.sync tensor cores on the cuda
    backend (fp16/bf16, sm_80+). Otherwise (gradients needed, wider layers, fp32 on cuda) two
    launches of the ``conv2d_fused`` primitive, the depthwise kernel then the pointwise
    convolution, each with its epilogue fused; gradients then flow through the primitive's
    formula.

    Example::

        >>> x = torch.randn(1, 128, 28, 28)
        >>> dw, pw = torch.randn(128, 1, 3, 3), torch.randn(256, 128, 1, 1)
        >>> convkernels.ops.separable_conv2d(x, dw, pw, padding=1, relu=True).shape
        torch.Size([1, 256, 28, 28])
    """
    if straight_to_torch(backend, input):
        out = torch_result(_separable_composition, input, depthwise_weight, pointwise_weight,
                           depthwise_bias, pointwise_bias, stride, padding, dilation, mid_scale,
                           mid_shift, mid_relu, scale, shift, relu)
        if out is not None:
            return out
    tensors = (input, depthwise_weight, pointwise_weight, depthwise_bias, pointwise_bias,
               mid_scale, mid_shift, scale, shift)
    g, extra = _checks.remembered(
        _CHECKED_CALLS, _checks.call_key("separable_conv2d", tensors, (stride, padding, dilation),
                                         ()),
        lambda: _check_separable(*tensors, stride, padding, dilation))
    input = pad_same_extra(input, extra)
    epilogue = reference.epilogue_dtype(input.dtype)
    mid_scale, mid_shift = _fold_bias(depthwise_bias, mid_scale, mid_shift, epilogue)
    scale, shift = _fold_bias(pointwise_bias, scale, shift, epilogue)
    if straight_to_torch(backend, input):
        return _separable_torch(input, depthwise_weight, pointwise_weight, mid_scale, mid_shift,
                                bool(mid_relu), scale, shift, bool(relu), g, False)
    grad = needs_grad(input, depthwise_weight, pointwise_weight, depthwise_bias,
                       pointwise_bias, mid_scale, mid_shift, scale, shift)
    fn = choose("separable_conv2d", backend, input, needs_grad=grad, groups=g.groups)
    return fn(input, depthwise_weight, pointwise_weight, mid_scale, mid_shift, bool(mid_relu),
              scale, shift, bool(relu), g, grad)


# The checks of separable_conv2d, remembered per call signature (see _checks.call_key).
_CHECKED_CALLS: dict = {}


def _check_separable(input, depthwise_weight, pointwise_weight, depthwise_bias, pointwise_bias,
                     mid_scale, mid_shift, scale, shift, stride, padding, dilation):
    op = "separable_conv2d"
    depthwise_checks.check_depthwise_weight(op, input, depthwise_weight)
    g, extra = _checks.check_conv2d(op, input, depthwise_weight, depthwise_bias, stride, padding,
                                    dilation, input.shape[1])
    depthwise_checks.check_pointwise_weight(op, pointwise_weight, input, g.K)
    _checks.check_vector(op, "pointwise_bias", pointwise_bias, pointwise_weight.shape[0])
    for name, v, n in (("mid_scale", mid_scale, g.K), ("mid_shift", mid_shift, g.K),
                       ("scale", scale, pointwise_weight.shape[0]),
                       ("shift", shift, pointwise_weight.shape[0])):
        _checks.check_vector(op, name, v, n)
    _checks.check_same_device(op, "input", input, pointwise_weight=pointwise_weight,
                              pointwise_bias=pointwise_bias, mid_scale=mid_scale,
                              mid_shift=mid_shift, scale=scale, shift=shift)
    return g, extra


def _separable_composition(input, dw, pw, dw_bias, pw_bias, stride, padding, dilation,
                           mid_scale, mid_shift, mid_relu, scale, shift, relu):
    """separable_conv2d straight on the torch backend (see ``torch_result``): its reference on
    the caller's own geometry, or None where a guard refuses what the two convolutions and
    the broadcasting epilogues would take but the checks refuse (see conv_guards_pass; an
    empty or non-1x1 pointwise weight, a meta pointwise weight or bias, per-channel vectors
    of another shape, a bias of another dtype than the input)."""
    mid_channels, out_channels = dw.shape[0], pw.shape[0]
    if not (conv_guards_pass(input, dw, dw_bias) and mid_channels != 0 and not pw.is_meta
            and pw.ndim == 4 and pw.shape[2] == 1 and pw.shape[3] == 1
            and (pw_bias is None or not pw_bias.is_meta)
            # (no vectors, the common call, skips the two calls: ~1 µs of the straight path)
            and (mid_scale is None and mid_shift is None and dw_bias is None
                 or channel_vectors(mid_channels, dw_bias, mid_scale, mid_shift))
            and (scale is None and shift is None and pw_bias is None
                 or channel_vectors(out_channels, pw_bias, scale, shift))
            and (dw_bias is None or dw_bias.dtype == input.dtype)
            and (pw_bias is None or pw_bias.dtype == input.dtype)):
        return None
    if dw_bias is not None or pw_bias is not None:
        epilogue = reference.epilogue_dtype(input.dtype)
        mid_scale, mid_shift = _fold_bias(dw_bias, mid_scale, mid_shift, epilogue)
        scale, shift = _fold_bias(pw_bias, scale, shift, epilogue)
    return reference.separable_conv2d(input, dw, pw, mid_scale, mid_shift, bool(mid_relu), scale,
                                      shift, bool(relu), stride, padding, dilation)


@register("separable_conv2d", "torch")
def _separable_torch(input, dw, pw, mid_scale, mid_shift, mid_relu, scale, shift, relu, g,
                     needs_grad):
    return reference.separable_conv2d(input, dw, pw, mid_scale, mid_shift, mid_relu, scale,
                                      shift, relu, g.stride, g.padding, g.dilation)


_CUDA_FUSED_MAX_K = 256  # kSeparableMaxOutputTiles (4) x 64-channel tiles, see depthwise.h


def _fused_separable_fits(backend: str, input: Tensor, K: int) -> bool:
    """Whether the one-kernel separable (middle tensor kept on chip) runs this call: Triton
    for any dtype while K fits its tiles (convkernels/triton/depthwise_separable.py); CUDA
    for fp16/bf16 on sm_80+ up to 256 output channels (csrc/kernels/depthwise/
    separable_fused.cu)."""
    if backend == "cuda":
        return (input.dtype in (torch.float16, torch.bfloat16) and K <= _CUDA_FUSED_MAX_K
                and torch.cuda.get_device_capability(input.device)[0] >= 8)
    from ..triton import depthwise_separable
    return depthwise_separable.fits(K)


def _separable_kernels(backend, input, dw, pw, mid_scale, mid_shift, mid_relu, scale, shift,
                       relu, g, needs_grad):
    if not needs_grad and _fused_separable_fits(backend, input, pw.shape[0]):
        return _library.op(backend, "separable_conv2d_fused")(
            input, dw, pw, mid_scale, mid_shift, mid_relu, scale, shift, relu, list(g.stride),
            list(g.padding), list(g.dilation))
    conv = _library.op(backend, "conv2d_fused")
    mid = conv(input, dw, mid_scale, mid_shift, None, list(g.stride), list(g.padding),
               list(g.dilation), g.groups, mid_relu)
    # The pointwise product runs on the cuda TF32 tensor cores: told the float32 mode (tf32x3
    # splits it); the depthwise stage computes float32 on SIMT units whatever the mode.
    return conv(mid, pw, scale, shift, None, [1, 1], [0, 0], [1, 1], 1, relu,
                *cuda_split_tf32_args(backend, input.dtype))


for _backend in ("cuda", "triton"):
    register("separable_conv2d", _backend)(
        lambda *args, _b=_backend: _separable_kernels(_b, *args))
