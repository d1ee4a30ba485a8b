"""Single-module swaps: a torch.nn layer replaced by its convkernels.nn twin.

A module is swapped only when its ``forward`` is torch's own (a subclass that overrides it,
such as timm's ``Conv2dSame``, computes something else) and the twin accepts its exact
configuration; otherwise it stays and the report says why. Twins share the parameters of
the module they replace (no copy), so the ``state_dict`` is unchanged.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .. import nn as cknn


class Skip(Exception):
    """Raised by a swap that cannot take this module; the message is the report's reason."""


def own_forward(module: torch.nn.Module, torch_type: type) -> bool:
    """True when ``module`` computes exactly what ``torch_type`` computes."""
    return isinstance(module, torch_type) and type(module).forward is torch_type.forward


def _twin(name: str):
    cls = getattr(cknn, name, None)
    if cls is None:
        raise Skip(f"convkernels.nn.{name} is not available")
    return cls


def mirror(module: torch.nn.Module, twin_name: str, backend: Optional[str]) -> torch.nn.Module:
    """The twin built from ``module``'s constructor arguments (read back from its
    attributes), with ``module``'s state and train/eval mode."""
    cls = _twin(twin_name)
    params = inspect.signature(type(module).__init__).parameters
    kwargs = {p: getattr(module, p) for p in params
              if p not in ("self", "device", "dtype") and hasattr(module, p)}
    try:
        new = cls(**kwargs, backend=backend)
    except (TypeError, ValueError, RuntimeError) as e:
        raise Skip(f"{twin_name} does not take this configuration: {e}") from e
    new.load_state_dict(module.state_dict())
    return new.train(module.training)


def _conv2d(module, backend, ctx):
    return cknn.Conv2d.from_torch(module, backend=backend)


def _conv_transpose(module, backend, ctx):
    if not ctx.resize_conv:
        raise Skip("ConvTranspose2d -> resize-conv changes the function; pass resize_conv=True "
                   "to swap it (the replacement has the same output shape, not the same values)")
    cls = _twin("ResizeConv2d")
    try:
        return cls.from_conv_transpose(module, backend=backend)
    except (TypeError, ValueError) as e:
        raise Skip(str(e)) from e


@dataclass(frozen=True)
class Swap:
    torch_type: type
    twin: str                                   # convkernels.nn class name, for the report
    build: Callable                             # (module, backend, ctx) -> new module
    note: str = ""


def _mirrored(twin: str) -> Callable:
    return lambda module, backend, ctx: mirror(module, twin, backend)


SWAPS: tuple[Swap, ...] = (
    Swap(torch.nn.Conv2d, "Conv2d", _conv2d),
    Swap(torch.nn.MaxPool2d, "MaxPool2d", _mirrored("MaxPool2d")),
    Swap(torch.nn.AvgPool2d, "AvgPool2d", _mirrored("AvgPool2d")),
    Swap(torch.nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", _mirrored("AdaptiveAvgPool2d")),
    Swap(torch.nn.MaxUnpool2d, "MaxUnpool2d", _mirrored("MaxUnpool2d")),
    Swap(torch.nn.LocalResponseNorm, "LocalResponseNorm", _mirrored("LocalResponseNorm")),
    Swap(torch.nn.ConvTranspose2d, "ResizeConv2d", _conv_transpose,
         note="function changed on request (resize_conv=True): checkerboard-free upsampling"),
)

#: Layers worth a report line when they stay (a reader wonders why they were not swapped).
NOTEWORTHY = (torch.nn.BatchNorm2d, torch.nn.SyncBatchNorm, torch.nn.Upsample)


def find_swap(module: torch.nn.Module) -> Optional[Swap]:
    for swap in SWAPS:
        if isinstance(module, swap.torch_type):
            return swap
    return None


def swap_module(module: torch.nn.Module, swap: Swap, backend: Optional[str], ctx):
    """The replacement for ``module``; raises :class:`Skip` with the reason when there is none."""
    if not own_forward(module, swap.torch_type):
        raise Skip(f"{type(module).__name__} overrides {swap.torch_type.__name__}.forward")
    return swap.build(module, backend, ctx)
