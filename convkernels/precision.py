"""The arithmetic of float32 convolutions in our kernels: IEEE, TF32, or 3xTF32 ("tf32x3").

By default our kernels follow torch's own switch for cuDNN convolutions, the one
``F.conv2d`` follows (``torch.backends.cudnn.allow_tf32``, or
``torch.backends.cudnn.conv.fp32_precision`` on newer torch): ``"tf32"`` when it allows TF32,
``"ieee"`` (full float32) otherwise. So a model gives the accuracy its user already chose.

``"tf32x3"`` is the mode torch has no switch for: each float32 operand is split into a TF32
high part and a TF32 residual, and three TF32 tensor-core products (``lo*hi + hi*lo +
hi*hi``, small terms first) are accumulated in float32. The error stays at the level of
float32 arithmetic while the products run on tensor cores. Ask for it explicitly::

    >>> convkernels.set_fp32_precision("tf32x3")      # process-wide
    >>> with convkernels.fp32_precision("tf32x3"):   # or for a region
    ...     y = convkernels.ops.conv2d(x, w, backend="triton")

Where it applies:

* the ``triton`` backend: every convolution kernel (direct, grouped, separable, Winograd's
  batched products, resize-conv, locally connected) runs its float32 ``tl.dot`` in tf32x3;
* the ``cuda`` backend: every kernel that may run float32 products on TF32 tensor cores has
  a 3xTF32 policy (three m16n8k8 TF32 ``mma.sync`` per product) and its op is told the mode:
  the direct convolution (``conv2d``, ``conv2d_affine`` and ``fused_conv_bn_relu`` with the
  direct algorithm, and ``separable_conv2d``'s pointwise product), the Winograd kernels
  (``conv2d_winograd``, and so ``algo="winograd_2x2" | "winograd_4x4"``) and the resize-conv
  kernels (``resize_conv2d(_affine)``, nearest and bilinear). They run it on sm_80 and newer
  whatever torch's flag says; a shape the tensor-core kernels cannot take, and any GPU below
  sm_80, runs the SIMT kernels in full float32, and the grouped / depthwise convolutions are
  full float32 anyway. Checked in the CPU emulator of the kernels and in their SASS only: it
  has not run on a GPU;
* the ``torch`` backend is cuDNN (or aten on the CPU) and follows torch's flags only.

Inside ``torch.compile`` the triton kernels read the mode when they launch (the custom ops are
opaque to the compiler), so a compiled model follows the mode in effect at each call. The cuda
kernels are told the mode by an argument of their ops (``cuda_split_tf32_args``), which the
graph records when it is traced.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, Optional

import torch

__all__ = ["FP32_PRECISIONS", "set_fp32_precision", "fp32_precision", "get_fp32_precision",
           "torch_conv_fp32_precision"]

#: What ``get_fp32_precision`` returns; ``set_fp32_precision`` takes "tf32x3" or None.
FP32_PRECISIONS = ("ieee", "tf32", "tf32x3")
_REQUESTABLE = ("tf32x3",)

_context_mode: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "convkernels_fp32_precision", default=None)
_global_mode: Optional[str] = None


def _validate(mode: Optional[str], where: str) -> Optional[str]:
    if mode is not None and mode not in _REQUESTABLE:
        raise ValueError(
            f"{where}: mode must be 'tf32x3' or None (None follows torch's cuDNN convolution "
            f"flag, which chooses between 'ieee' and 'tf32'), got {mode!r}")
    return mode


def set_fp32_precision(mode: Optional[str]) -> None:
    """Process-wide float32 mode of our kernels: ``"tf32x3"``, or None to follow torch's
    cuDNN convolution flag again."""
    global _global_mode
    _global_mode = _validate(mode, "convkernels.set_fp32_precision")


@contextlib.contextmanager
def fp32_precision(mode: Optional[str]) -> Iterator[None]:
    """Context manager: float32 mode of our kernels inside the block (context-local)."""
    token = _context_mode.set(_validate(mode, "convkernels.fp32_precision"))
    try:
        yield
    finally:
        _context_mode.reset(token)


def torch_conv_fp32_precision() -> str:
    """"tf32" or "ieee": what torch's switch for cuDNN convolutions asks for.

    torch >= 2.9 has per-op ``fp32_precision`` settings ("none" defers to the parent); the
    legacy ``cudnn.allow_tf32`` getter raises when old and new APIs were mixed, so it is only
    the fallback for older torch.
    """
    backends = torch.backends
    chain = [
        getattr(getattr(backends.cudnn, "conv", None), "fp32_precision", None),
        getattr(backends.cudnn, "fp32_precision", None),
        getattr(backends, "fp32_precision", None),
    ]
    if chain[0] is not None:
        for prec in chain:
            if prec in ("tf32", "ieee"):
                return prec
        return "ieee"
    try:
        return "tf32" if backends.cudnn.allow_tf32 else "ieee"
    except RuntimeError:
        return "ieee"


def get_fp32_precision() -> str:
    """The float32 mode our kernels use now: the one asked for (context, then process-wide),
    else torch's cuDNN convolution flag ("tf32" or "ieee")."""
    return _context_mode.get() or _global_mode or torch_conv_fp32_precision()


def cuda_split_tf32_args(backend: str, dtype: torch.dtype) -> tuple:
    """The trailing arguments that tell a cuda op with a 3xTF32 kernel the float32 mode:
    ``(True,)`` (its ``split_tf32``) for a float32 call on the cuda backend in tf32x3, else
    ``()`` (the schema's default, False). The triton kernels read the mode themselves."""
    if backend == "cuda" and dtype == torch.float32 and get_fp32_precision() == "tf32x3":
        return (True,)
    return ()
