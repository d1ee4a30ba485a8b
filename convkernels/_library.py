"""The custom-op layer: each primitive as a ``torch.ops.convkernels`` operator per backend.

``cuda_*`` operators are defined in C++ (csrc/ops/<family>*.cpp) and exist only when the
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


# ---- winograd -------------------------------------------------------------------------------

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
    if _extension.load()[0] and has_op("cuda", _p):   # an older build may lack a family
        torch.library.register_fake(f"convkernels::cuda_{_p}")(_meta.FAKES[_p])


def op(backend: str, primitive: str):
    """The operator implementing ``primitive`` on ``backend`` ("cuda" or "triton")."""
    return getattr(torch.ops.convkernels, f"{backend}_{primitive}").default


# ==== pooling and local response normalization (op families: pool, lrn) =====================
# Forward primitives get autograd (their backward is the *_backward primitive of the same
# backend); backward primitives get fakes only. divisor_override 0 means None throughout.

POOL_PRIMITIVES = ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
                   "max_unpool2d", "local_response_norm", "lrn_max_pool2d")
POOL_BACKWARD_PRIMITIVES = ("max_pool2d_backward", "avg_pool2d_backward",
                            "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_backward",
                            "max_unpool2d_backward", "local_response_norm_backward")


def _pooled_size(input, kernel, stride, padding, dilation, ceil_mode) -> tuple[int, int]:
    from ._checks import pool_output_size
    return tuple(pool_output_size(input.shape[2 + d], kernel[d], stride[d], padding[d],
                                  dilation[d], ceil_mode) for d in range(2))


def _pool_launchers():
    from .triton import lrn, pool  # imported lazily: triton is optional
    return pool, lrn


@torch.library.custom_op("convkernels::triton_max_pool2d", mutates_args=())
def triton_max_pool2d(input: Tensor, kernel: Sequence[int], stride: Sequence[int],
                      padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool,
                      return_indices: bool) -> tuple[Tensor, Tensor]:
    pool, _ = _pool_launchers()
    OH, OW = _pooled_size(input, kernel, stride, padding, dilation, ceil_mode)
    return pool.max_pool2d(input, list(kernel), list(stride), list(padding), list(dilation),
                           OH, OW, return_indices)


@torch.library.custom_op("convkernels::triton_max_pool2d_backward", mutates_args=())
def triton_max_pool2d_backward(grad_output: Tensor, indices: Tensor, input_size: Sequence[int],
                               kernel: Sequence[int], stride: Sequence[int],
                               padding: Sequence[int], dilation: Sequence[int]) -> Tensor:
    pool, _ = _pool_launchers()
    return pool.max_pool2d_backward(grad_output, indices, *input_size, list(kernel),
                                    list(stride), list(padding), list(dilation))


@torch.library.custom_op("convkernels::triton_avg_pool2d", mutates_args=())
def triton_avg_pool2d(input: Tensor, kernel: Sequence[int], stride: Sequence[int],
                      padding: Sequence[int], ceil_mode: bool, count_include_pad: bool,
                      divisor_override: int) -> Tensor:
    pool, _ = _pool_launchers()
    OH, OW = _pooled_size(input, kernel, stride, padding, (1, 1), ceil_mode)
    return pool.avg_pool2d(input, list(kernel), list(stride), list(padding), OH, OW,
                           count_include_pad, divisor_override)


@torch.library.custom_op("convkernels::triton_avg_pool2d_backward", mutates_args=())
def triton_avg_pool2d_backward(grad_output: Tensor, input_size: Sequence[int],
                               kernel: Sequence[int], stride: Sequence[int],
                               padding: Sequence[int], count_include_pad: bool,
                               divisor_override: int) -> Tensor:
    pool, _ = _pool_launchers()
    return pool.avg_pool2d_backward(grad_output, *input_size, list(kernel), list(stride),
                                    list(padding), count_include_pad, divisor_override)


@torch.library.custom_op("convkernels::triton_adaptive_avg_pool2d", mutates_args=())
def triton_adaptive_avg_pool2d(input: Tensor, output_size: Sequence[int]) -> Tensor:
    pool, _ = _pool_launchers()
    return pool.adaptive_pool2d(input, *output_size, is_max=False, return_indices=False)[0]


@torch.library.custom_op("convkernels::triton_adaptive_avg_pool2d_backward", mutates_args=())
def triton_adaptive_avg_pool2d_backward(grad_output: Tensor, input_size: Sequence[int]
                                        ) -> Tensor:
    pool, _ = _pool_launchers()
    return pool.adaptive_pool2d_backward(grad_output, None, *input_size, is_max=False)


@torch.library.custom_op("convkernels::triton_adaptive_max_pool2d", mutates_args=())
def triton_adaptive_max_pool2d(input: Tensor, output_size: Sequence[int],
                               return_indices: bool) -> tuple[Tensor, Tensor]:
    pool, _ = _pool_launchers()
    return pool.adaptive_pool2d(input, *output_size, is_max=True,
                                return_indices=return_indices)


@torch.library.custom_op("convkernels::triton_adaptive_max_pool2d_backward", mutates_args=())
def triton_adaptive_max_pool2d_backward(grad_output: Tensor, indices: Tensor,
                                        input_size: Sequence[int]) -> Tensor:
    pool, _ = _pool_launchers()
    return pool.adaptive_pool2d_backward(grad_output, indices, *input_size, is_max=True)


@torch.library.custom_op("convkernels::triton_max_unpool2d", mutates_args=())
def triton_max_unpool2d(input: Tensor, indices: Tensor, output_size: Sequence[int]) -> Tensor:
    pool, _ = _pool_launchers()
    return pool.max_unpool2d(input, indices, *output_size)


@torch.library.custom_op("convkernels::triton_max_unpool2d_backward", mutates_args=())
def triton_max_unpool2d_backward(grad_output: Tensor, indices: Tensor) -> Tensor:
    pool, _ = _pool_launchers()
    return pool.max_unpool2d_backward(grad_output, indices)


@torch.library.custom_op("convkernels::triton_local_response_norm", mutates_args=())
def triton_local_response_norm(input: Tensor, size: int, alpha: float, beta: float,
                               k: float) -> Tensor:
    _, lrn = _pool_launchers()
    return lrn.local_response_norm(input, size, alpha, beta, k)


@torch.library.custom_op("convkernels::triton_local_response_norm_backward", mutates_args=())
def triton_local_response_norm_backward(grad_output: Tensor, input: Tensor, size: int,
                                        alpha: float, beta: float, k: float) -> Tensor:
    _, lrn = _pool_launchers()
    return lrn.local_response_norm_backward(grad_output, input, size, alpha, beta, k)


@torch.library.custom_op("convkernels::triton_lrn_max_pool2d", mutates_args=())
def triton_lrn_max_pool2d(input: Tensor, size: int, alpha: float, beta: float, k: float,
                          kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                          dilation: Sequence[int], ceil_mode: bool, pool_first: bool,
                          return_indices: bool) -> tuple[Tensor, Tensor]:
    _, lrn = _pool_launchers()
    OH, OW = _pooled_size(input, kernel, stride, padding, dilation, ceil_mode)
    return lrn.lrn_max_pool2d(input, size, alpha, beta, k, list(kernel), list(stride),
                              list(padding), list(dilation), OH, OW, pool_first,
                              return_indices)


def _register_pool(backend: str) -> None:
    import functools

    for name in POOL_PRIMITIVES + POOL_BACKWARD_PRIMITIVES:
        torch.library.register_fake(f"convkernels::{backend}_{name}")(_meta.FAKES[name])
    for name in POOL_PRIMITIVES:
        backward, setup = _autograd.POOL_FORMULAS[name]
        torch.library.register_autograd(f"convkernels::{backend}_{name}",
                                        functools.partial(backward, backend),
                                        setup_context=setup)


_register_pool("triton")
if _extension.load()[0] and has_op("cuda", "max_pool2d"):
    _register_pool("cuda")

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
    if has_op(_backend, "separable_conv2d_fused"):
        torch.library.register_fake(f"convkernels::{_backend}_separable_conv2d_fused")(
            _meta.FAKES["separable_conv2d_fused"])

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
