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

from typing import Optional

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
