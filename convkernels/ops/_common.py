"""Helpers the public ops of several families share."""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def needs_grad(*tensors: Optional[Tensor]) -> bool:
    """Whether autograd records this call: grad mode on and some tensor requires grad."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def as_f32(v: Optional[Tensor]) -> Optional[Tensor]:
    """A per-channel epilogue vector as the kernels take it (float32), or None."""
    return None if v is None else v.to(torch.float32)


def pad_same_extra(input: Tensor, extra: tuple[int, int]) -> Tensor:
    """padding='same' with an even effective kernel: torch pads the extra row/column at the
    end (see :func:`convkernels._checks.resolve_padding`)."""
    return F.pad(input, (0, extra[1], 0, extra[0])) if extra != (0, 0) else input


def batched(input) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """torch's pools take [C, H, W] too: run it as a batch of one. Returns (x, unbatch)."""
    if isinstance(input, Tensor) and input.dim() == 3:
        return input.unsqueeze(0), (lambda t: t.squeeze(0))
    return input, (lambda t: t)
