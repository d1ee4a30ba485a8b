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
    if groups != 1:  # grouped and depthwise kernels (convkernels/triton/grouped.py)
        from .triton import grouped
        return grouped.conv2d_grouped(input, weight, scale, shift, residual, list(stride),
                                      list(padding), list(dilation), groups, relu)
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
    backend = qualname.split("::")[1].split("_")[0]  # "cuda" | "triton"

    def setup_on_backend(ctx, inputs, output):
        ctx.backend = backend  # lets a formula call its own backend's backward kernels
        setup(ctx, inputs, output)

    torch.library.register_autograd(qualname, backward, setup_context=setup_on_backend)


for _p in PRIMITIVES:
    _register(f"convkernels::triton_{_p}", _p)

if _extension.load()[0]:
    for _p in PRIMITIVES:
        _register(f"convkernels::cuda_{_p}", _p)


# ---- grouped / depthwise: backward-only primitives (no autograd of their own) ----------------

DEPTHWISE_BACKWARD_PRIMITIVES = ("depthwise_backward_input", "depthwise_backward_weight")


@torch.library.custom_op("convkernels::triton_depthwise_backward_input", mutates_args=())
def triton_depthwise_backward_input(grad_output: Tensor, input: Tensor, weight: Tensor,
                                    stride: Sequence[int], padding: Sequence[int],
                                    dilation: Sequence[int]) -> Tensor:
    from .triton import depthwise
    return depthwise.depthwise_backward_input(grad_output, input, weight, list(stride),
                                              list(padding), list(dilation))


@torch.library.custom_op("convkernels::triton_depthwise_backward_weight", mutates_args=())
def triton_depthwise_backward_weight(grad_output: Tensor, input: Tensor, weight: Tensor,
                                     stride: Sequence[int], padding: Sequence[int],
                                     dilation: Sequence[int]) -> Tensor:
    from .triton import depthwise
    return depthwise.depthwise_backward_weight(grad_output, input, weight, list(stride),
                                               list(padding), list(dilation))


for _p in DEPTHWISE_BACKWARD_PRIMITIVES:
    torch.library.register_fake(f"convkernels::triton_{_p}")(_meta.FAKES[_p])
    if _extension.load()[0]:
        torch.library.register_fake(f"convkernels::cuda_{_p}")(_meta.FAKES[_p])


def op(backend: str, primitive: str):
    """The operator implementing ``primitive`` on ``backend`` ("cuda" or "triton")."""
    return getattr(torch.ops.convkernels, f"{backend}_{primitive}").default


@torch.library.custom_op("convkernels::triton_separable_conv2d_fused", mutates_args=())
def triton_separable_conv2d_fused(input: Tensor, dw_weight: Tensor, pw_weight: Tensor,
                                  mid_scale: Optional[Tensor], mid_shift: Optional[Tensor],
                                  mid_relu: bool, scale: Optional[Tensor],
                                  shift: Optional[Tensor], relu: bool, stride: Sequence[int],
                                  padding: Sequence[int], dilation: Sequence[int]) -> Tensor:
    """Inference-only (no autograd): ops.separable_conv2d uses it when no gradient is needed."""
    from .triton import separable
    return separable.separable_conv2d_fused(input, dw_weight, pw_weight, mid_scale, mid_shift,
                                            mid_relu, scale, shift, relu, list(stride),
                                            list(padding), list(dilation))


for _backend in ("triton", "cuda") if _extension.load()[0] else ("triton",):
    torch.library.register_fake(f"convkernels::{_backend}_separable_conv2d_fused")(
        _meta.FAKES["separable_conv2d_fused"])

