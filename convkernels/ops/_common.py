"""Helpers the public ops of several families share."""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import FLOAT_DTYPES
from ..backends import runs_on_torch


def needs_grad(*tensors: Optional[Tensor]) -> bool:
    """Whether autograd records this call: grad mode on and some tensor requires grad."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def straight_to_torch(backend: Optional[str], input) -> bool:
    """Whether a call of an op that mirrors a torch function can be that function itself:
    the call goes to the torch backend whatever its other arguments (see
    :func:`convkernels.backends.runs_on_torch`). There the op *is* torch's function (torch's
    values, strides and errors), so it calls it with the user's own arguments and skips its
    checks: the per-call cost of the op is then one backend test. Only when torch raises does
    the op take its checked path, whose error names the bad argument (and which raises torch's
    own error again when every check passes). A fused op runs its torch composition the same
    way, behind guards (see :func:`torch_result`)."""
    return isinstance(input, Tensor) and runs_on_torch(backend, input)


def torch_result(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` for an op that went straight to torch, or None where torch
    raised: the op then takes its checked path, whose error names the bad argument (and
    which raises torch's own error again when every check passes). A fused op's ``fn`` (its
    torch composition) also returns None itself for a call that its cheap guards refuse: one
    the composition would take but the op's checks refuse (a broadcast residual, a 2-D
    per-channel vector). Such guards must be complete, and must run before anything that
    writes (running statistics)."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        return None


def channel_vectors(length: Optional[int], *vectors) -> bool:
    """Whether each of ``vectors`` is None or what the checks ask of a per-channel vector: a
    1-D floating-point tensor (of ``length`` values, unless None: where torch checks the
    length itself). Attribute reads only: this is a guard of the straight path."""
    for v in vectors:
        if v is not None and (v.ndim != 1 or v.dtype not in FLOAT_DTYPES
                              or (length is not None and v.shape[0] != length)):
            return False
    return True


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
