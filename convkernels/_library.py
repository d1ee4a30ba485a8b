"""The custom-op machinery every family uses: each primitive is a ``torch.ops.convkernels``
operator per backend.

``cuda_*`` operators are defined in C++ (each family's glue file under csrc/ops/) and exist
only when the extension is loaded. ``triton_*`` operators are declared by each family in
``convkernels/ops/<family>_primitives.py`` with ``torch.library.custom_op``; their bodies
import the Triton launchers lazily, so the operators exist even with a CPU-only torch
without Triton. :func:`register` gives both twins the family's fake kernel and backward
formula, which is what lets ``torch.compile(fullgraph=True)`` trace them and ``opcheck``
check them.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from . import _extension


def cuda_loaded() -> bool:
    """Whether the compiled extension (and with it the ``cuda_*`` schemas) is loaded."""
    return _extension.load()[0]


def has_op(backend: str, primitive: str) -> bool:
    """Whether ``primitive`` exists on ``backend`` here (a cuda build may predate it)."""
    return hasattr(torch.ops.convkernels, f"{backend}_{primitive}")


def op(backend: str, primitive: str):
    """The operator implementing ``primitive`` on ``backend`` ("cuda" or "triton")."""
    return getattr(torch.ops.convkernels, f"{backend}_{primitive}").default


Formula = tuple[Callable, Callable]  # (backward(ctx, *grads), setup_context(ctx, inputs, output))


def register(primitive: str, fake: Callable, formula: Optional[Formula] = None) -> None:
    """Register ``fake`` and, when given, the backward ``formula`` of ``primitive`` for every
    twin that exists here: ``triton_<primitive>`` (declared in Python by its family) and
    ``cuda_<primitive>`` when the loaded extension defines it (a build may predate a family).

    A formula reads ``ctx.backend`` ("cuda" | "triton") to call its own backend's backward
    primitives. A primitive without a formula (a backward or inference-only primitive) has
    no autograd of its own.
    """
    backends = ("triton", "cuda") if cuda_loaded() else ("triton",)
    for backend in backends:
        if not has_op(backend, primitive):
            continue
        qualname = f"convkernels::{backend}_{primitive}"
        torch.library.register_fake(qualname)(fake)
        if formula is not None:
            backward, setup = formula
            torch.library.register_autograd(qualname, backward,
                                            setup_context=_setup_on(backend, setup))


def _setup_on(backend: str, setup: Callable) -> Callable:
    def setup_on_backend(ctx, inputs, output):
        ctx.backend = backend
        setup(ctx, inputs, output)
    return setup_on_backend
