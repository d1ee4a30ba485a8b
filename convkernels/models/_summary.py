"""The model-zoo table: parameters and forward FLOPs of every network at its default input,
computed on the meta device (nothing allocated, nothing run) with torch's FLOP counter."""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.flop_counter import FlopCounterMode

from ._registry import get_model, list_models, model_info


@dataclasses.dataclass(frozen=True)
class ModelRow:
    name: str
    input_size: tuple
    params: int
    gflops: float          # forward, batch 1, multiply-add = 2 FLOPs (torch's convention)
    reference: str         # the torchvision/timm twin, or ""


def model_row(name: str) -> ModelRow:
    info = model_info(name)
    with torch.device("meta"):
        model = get_model(name, backend="torch").eval()
        x = torch.empty(1, *info.input_size)
    params = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return ModelRow(name, info.input_size, params, counter.get_total_flops() / 1e9,
                    info.reference or "")


def summary(names=None) -> list[ModelRow]:
    """One :class:`ModelRow` per network (all registered ones by default).

    Example::

        >>> for r in convkernels.models.summary(["resnet50"]):
        ...     print(r.name, r.params, round(r.gflops, 2))
        resnet50 25557032 8.21
    """
    return [model_row(n) for n in (names or list_models())]


def format_summary(names=None) -> str:
    """:func:`summary` as a text table (what ``python -m convkernels bench`` prints without a
    GPU)."""
    rows = summary(names)
    out = [f"{'network':<28} {'input':<14} {'params':>13} {'GFLOPs':>8}  torchvision/timm twin"]
    for r in rows:
        size = "x".join(str(s) for s in r.input_size)
        out.append(f"{r.name:<28} {size:<14} {r.params:>13,} {r.gflops:>8.3g}  "
                   f"{r.reference or '-'}")
    return "\n".join(out)
