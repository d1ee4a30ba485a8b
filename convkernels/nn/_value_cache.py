"""Recognizing that a tensor still holds the value a cached result was computed from.

Modules cache what they derive from their parameters and buffers (the folded BatchNorm, a
dense weight) and must recompute it after any change torch itself would honour. The state
recorded per tensor is the tensor object, an alias of its storage and its version counter:

* in-place edits, optimizer steps and ``load_state_dict`` bump the version;
* ``.to()`` / ``.half()`` replace a buffer (a new object) or a parameter's ``.data`` (a new
  storage, so a new data pointer);
* the alias keeps the old storage alive, so a new allocation cannot reuse its address and an
  equal data pointer really is the same storage.

Writes through ``.data`` bypass version counters and are not seen, as they are not by
autograd. Callers add what the counters miss (e.g. ``F.batch_norm``'s in-place running
statistics update, which bumps no version).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor


def tensor_state(t: Optional[Tensor]):
    """What identifies the current value of ``t`` (None for None)."""
    return None if t is None else (t, t.detach(), t._version)


def still_current(state, t: Optional[Tensor]) -> bool:
    """Whether ``t`` still has the value ``state`` (from :func:`tensor_state`) recorded. Reads
    ``t`` without building a new state: this runs on every forward that uses a cache."""
    if state is None or t is None:
        return state is None and t is None
    t0, alias0, v0 = state
    return t0 is t and t._version == v0 and t.data_ptr() == alias0.data_ptr()


def cached_derivative(owner: torch.nn.Module, attr: str, source: Tensor,
                      compute: Callable[[], object], also: object = None):
    """What ``compute()`` derives from ``source`` (and from ``also``, compared by identity),
    kept on ``owner`` as ``attr`` = (state of source, value, also) and computed again only
    after one of them changed. None where it cannot be cached: autograd needs ``source``
    itself in the graph, or torch.compile is tracing."""
    if (torch.is_grad_enabled() and source.requires_grad) or torch.compiler.is_compiling():
        return None
    cached = owner.__dict__.get(attr)
    if cached is None or cached[2] is not also or not still_current(cached[0], source):
        with torch.no_grad():
            cached = (tensor_state(source), compute(), also)
        owner.__dict__[attr] = cached
    return cached[1]
