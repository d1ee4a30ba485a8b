"""``convkernels.convert``: swap convkernels layers into an existing PyTorch model.

    >>> import torchvision, convkernels
    >>> model, report = convkernels.convert(torchvision.models.resnet50().eval())
    >>> print(report)          # every swap and every skip, with the reason

What changes (see docs/convert.md):

* Conv2d -> BatchNorm2d [-> +residual] [-> ReLU] chains become one fused op
  (:class:`~convkernels.nn.FusedConv2d`), found in Sequentials and, through a one-level
  torch.fx trace, in custom ``forward`` methods; a SyncBatchNorm there is fused the same way
  and keeps reducing its statistics across processes (see :mod:`convkernels.distributed`),
  whether ``SyncBatchNorm.convert_sync_batchnorm`` ran before convert or after it;
* single layers become their convkernels.nn twins: Conv2d (also grouped and depthwise),
  MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, MaxUnpool2d, LocalResponseNorm; ConvTranspose2d
  becomes a resize-conv only with ``resize_conv=True``, because that changes the function.

What does not: parameter and buffer names (the converted ``state_dict`` loads into the
original class), module classes of containers, train/eval semantics (training still uses
batch statistics and updates the running ones), and anything convert does not understand,
which stays as it was and is listed in the report.
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from ..nn import FusedConv2d
from . import chains, swaps
from .report import ConvertReport, Record

__all__ = ["convert", "ConvertReport", "Record"]

_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)


@dataclass
class _Context:
    backend: Optional[str]
    include: Optional[Sequence[str]]
    exclude: Optional[Sequence[str]]
    resize_conv: bool
    report: ConvertReport

    def wants(self, path: str) -> bool:
        """include/exclude are fnmatch patterns on module paths ("layer1.*", "*.downsample.0")."""
        if self.include is not None and not any(fnmatch.fnmatchcase(path, p)
                                                for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(path, p) for p in self.exclude or ())


def convert(model: torch.nn.Module, *, inplace: bool = False, backend: Optional[str] = None,
            include: Optional[Sequence[str]] = None, exclude: Optional[Sequence[str]] = None,
            resize_conv: bool = False) -> tuple[torch.nn.Module, ConvertReport]:
    """Replace the layers of ``model`` that convkernels implements; return (model, report).

    Args:
        model: any ``torch.nn.Module`` (torchvision, timm, your own).
        inplace: modify ``model`` itself instead of a deep copy.
        backend: backend of every new module (None: auto; "cuda" | "triton" | "torch").
        include: if given, only modules whose path matches one of these fnmatch patterns.
        exclude: modules whose path matches one of these patterns are left alone.
        resize_conv: also replace ``ConvTranspose2d`` by a checkerboard-free resize-conv
            (a different function with the same output shape; off by default).

    The converted model gives the original's outputs (within the dtype's tolerance) in eval
    and in training, and its ``state_dict`` has the same keys, shapes and values.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"convkernels.convert: expected a torch.nn.Module, got "
                        f"{type(model).__name__}")
    if backend not in (None, "auto", "cuda", "triton", "torch"):
        raise ValueError(f"convkernels.convert: backend must be None, 'auto', 'cuda', 'triton' "
                         f"or 'torch', got {backend!r}")
    for name, value in (("include", include), ("exclude", exclude)):
        if isinstance(value, str):
            raise TypeError(f"convkernels.convert: {name} must be a list of patterns, not a "
                            f"string (did you mean [{value!r}]?)")
    model = model if inplace else copy.deepcopy(model)
    ctx = _Context(None if backend == "auto" else backend, include, exclude, resize_conv,
                   ConvertReport())
    _convert(model, "", ctx)
    return model, ctx.report


def _is_ours(module: torch.nn.Module) -> bool:
    return type(module).__module__.startswith("convkernels.")


def _convert(module: torch.nn.Module, prefix: str, ctx: _Context) -> None:
    # 1. chains among this module's direct children (they rename nothing)
    if isinstance(module, torch.nn.Sequential):
        chains.fuse_sequential(module, prefix, ctx)
        chains.fuse_sequential_pairs(module, prefix, ctx)
        chains.fuse_upsample_conv(module, prefix, ctx)
    elif not isinstance(module, _CONTAINERS) and not _is_ours(module):
        chains.fuse_traced(module, prefix, ctx)
    # 2. every child: swap it, or look inside it
    for name, child in list(module.named_children()):
        path = prefix + name
        if _is_ours(child):
            if isinstance(child, FusedConv2d):
                child.rebind_batch_norm()   # its BatchNorm may have been replaced since
            continue   # fused above, or already a convkernels module
        swap = swaps.find_swap(child)
        if swap is None:
            if (isinstance(child, swaps.NOTEWORTHY) and ctx.wants(path)
                    and not ctx.report.mentions(path)):
                ctx.report.skip(path, type(child).__name__, _why_kept(child))
            _convert(child, path + ".", ctx)
            continue
        if not ctx.wants(path):
            continue
        try:
            new = swaps.swap_module(child, swap, ctx.backend, ctx)
        except swaps.Skip as e:
            ctx.report.skip(path, type(child).__name__, str(e))
            continue
        setattr(module, name, new)
        ctx.report.add(path, type(child).__name__, type(new).__name__, reason=swap.note,
                       backend=ctx.backend)


def _why_kept(module: torch.nn.Module) -> str:
    if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.SyncBatchNorm)):
        return ("not directly after a Conv2d it could fold into (e.g. pre-activation); "
                f"runs as torch.nn.{type(module).__name__}")
    return "no convkernels equivalent on its own; runs as torch"
