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


for _p in PRIMITIVES:
    _register(f"convkernels::triton_{_p}", _p)

if _extension.load()[0]:
    for _p in PRIMITIVES:
        _register(f"convkernels::cuda_{_p}", _p)


def op(backend: str, primitive: str):
    """The operator implementing ``primitive`` on ``backend`` ("cuda" or "triton")."""
    return getattr(torch.ops.convkernels, f"{backend}_{primitive}").default


# ---- local_conv ----------------------------------------------------------------------------

@torch.library.custom_op("convkernels::triton_local_conv2d", mutates_args=())
def triton_local_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor],
                        stride: Sequence[int], padding: Sequence[int],
                        dilation: Sequence[int]) -> Tensor:
    from .triton import local_conv
    return local_conv.local_conv2d(input, weight, bias, list(stride), list(padding),
                                   list(dilation))


_register("convkernels::triton_local_conv2d", "local_conv2d")
if _extension.load()[0] and hasattr(torch.ops.convkernels, "cuda_local_conv2d"):
    _register("convkernels::cuda_local_conv2d", "local_conv2d")
