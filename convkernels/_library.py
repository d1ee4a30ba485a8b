"""The custom-op layer: each primitive as a ``torch.ops.convkernels`` operator per backend.

``cuda_*`` operators are defined in C++ (csrc/registration.cpp) and exist only when the
extension is loaded. ``triton_*`` operators are defined here with ``torch.library.custom_op``
so that they exist wherever Triton does (including CPU-only torch under the interpreter).
Both twins get the same fake kernel (``_meta``) and backward formula (``_autograd``), which is
what lets ``torch.compile(fullgraph=True)`` trace them and ``opcheck`` check them.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from . import _autograd, _extension, _meta

PRIMITIVES = ("conv2d_fused", "channel_moments", "scale_shift_relu")


def _launchers():
    from .triton import batch_norm, conv_direct  # imported lazily: triton is optional
    return conv_direct, batch_norm


@torch.library.custom_op("convkernels::triton_conv2d_fused", mutates_args=())
def triton_conv2d_fused(input: Tensor, weight: Tensor, scale: Optional[Tensor],
                        shift: Optional[Tensor], residual: Optional[Tensor],
                        stride: Sequence[int], padding: Sequence[int],
                        dilation: Sequence[int], groups: int, relu: bool) -> Tensor:
    if groups != 1:
        raise RuntimeError("convkernels::triton_conv2d_fused: grouped convolution is not "
                           "implemented in the Triton kernel yet (groups must be 1)")
    conv_direct, _ = _launchers()
    return conv_direct.conv2d_fused(input, weight, scale, shift, residual, list(stride),
                                    list(padding), list(dilation), relu)


@torch.library.custom_op("convkernels::triton_channel_moments", mutates_args=())
def triton_channel_moments(input: Tensor) -> tuple[Tensor, Tensor]:
    _, batch_norm = _launchers()
    return batch_norm.channel_moments(input)


@torch.library.custom_op("convkernels::triton_scale_shift_relu", mutates_args=())
def triton_scale_shift_relu(input: Tensor, scale: Tensor, shift: Tensor,
                            residual: Optional[Tensor], relu: bool) -> Tensor:
    _, batch_norm = _launchers()
    return batch_norm.scale_shift_relu(input, scale, shift, residual, relu)


def _register(qualname: str, primitive: str) -> None:
    torch.library.register_fake(qualname)(_meta.FAKES[primitive])
    backward, setup = _autograd.FORMULAS[primitive]
    torch.library.register_autograd(qualname, backward, setup_context=setup)


# ---- winograd (issue 3) ----------------------------------------------------------------------

WINOGRAD_PRIMITIVES = ("winograd_filter_transform", "winograd_conv2d_fused")


@torch.library.custom_op("convkernels::triton_winograd_filter_transform", mutates_args=())
def triton_winograd_filter_transform(weight: Tensor, tile: int) -> Tensor:
    from .triton import winograd
    return winograd.filter_transform(weight, tile)


@torch.library.custom_op("convkernels::triton_winograd_conv2d_fused", mutates_args=())
def triton_winograd_conv2d_fused(input: Tensor, weight: Tensor, transformed_weight: Tensor,
                                 scale: Optional[Tensor], shift: Optional[Tensor],
                                 residual: Optional[Tensor], padding: Sequence[int], tile: int,
                                 relu: bool) -> Tensor:
    """``weight`` is read only by the backward (gradients go to it, not to U)."""
    from .triton import winograd
    return winograd.conv2d_fused(input, transformed_weight, scale, shift, residual,
                                 list(padding), tile, relu)


# ---- end winograd ----------------------------------------------------------------------------

for _p in PRIMITIVES + WINOGRAD_PRIMITIVES:
    _register(f"convkernels::triton_{_p}", _p)

if _extension.load()[0]:
    for _p in PRIMITIVES + WINOGRAD_PRIMITIVES:
        if hasattr(torch.ops.convkernels, f"cuda_{_p}"):  # an older build may lack a family
            _register(f"convkernels::cuda_{_p}", _p)


def has_op(backend: str, primitive: str) -> bool:
    """Whether ``primitive`` exists on ``backend`` here (a cuda build may predate it)."""
    return hasattr(torch.ops.convkernels, f"{backend}_{primitive}")


def op(backend: str, primitive: str):
    """The operator implementing ``primitive`` on ``backend`` ("cuda" or "triton")."""
    return getattr(torch.ops.convkernels, f"{backend}_{primitive}").default


# ---- resize_conv: nearest (phase-folded weight) and bilinear resize-convolution ----------------

RESIZE_CONV_PRIMITIVES = ("resize_nearest_conv2d_fused", "resize_bilinear_conv2d_fused")


def _resize_conv_launchers():
    from .triton import resize_conv  # lazily: triton is optional
    return resize_conv


@torch.library.custom_op("convkernels::triton_resize_nearest_conv2d_fused", mutates_args=())
def triton_resize_nearest_conv2d_fused(input: Tensor, folded_weight: Tensor,
                                       scale: Optional[Tensor], shift: Optional[Tensor],
                                       scale_factor: int, padding: Sequence[int],
                                       stride: Sequence[int], kernel_size: Sequence[int],
                                       relu: bool) -> Tensor:
    return _resize_conv_launchers().nearest_conv2d_fused(
        input, folded_weight, scale, shift, scale_factor, list(padding), list(stride),
        list(kernel_size), relu)


@torch.library.custom_op("convkernels::triton_resize_bilinear_conv2d_fused", mutates_args=())
def triton_resize_bilinear_conv2d_fused(input: Tensor, weight: Tensor, scale: Optional[Tensor],
                                        shift: Optional[Tensor], scale_factor: int,
                                        padding: Sequence[int], stride: Sequence[int],
                                        align_corners: bool, relu: bool) -> Tensor:
    return _resize_conv_launchers().bilinear_conv2d_fused(
        input, weight, scale, shift, scale_factor, list(padding), list(stride), align_corners,
        relu)


for _p in RESIZE_CONV_PRIMITIVES:
    _register(f"convkernels::triton_{_p}", _p)
    # An extension built before this family existed lacks the cuda_* schemas.
    if _extension.load()[0] and hasattr(torch.ops.convkernels, f"cuda_{_p}"):
        _register(f"convkernels::cuda_{_p}", _p)
