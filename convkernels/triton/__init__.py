"""Triton kernels for convkernels: plain launchers on torch tensors.

The launchers are imported lazily so that `import convkernels` works without Triton;
`is_available()` says whether they can run here. Under TRITON_INTERPRET=1 (set before
the first launcher import, since triton.jit picks the interpreter at definition time)
they take CPU tensors and run on Triton's numpy interpreter; otherwise CUDA tensors.
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = ["is_available", "conv2d_fused", "channel_moments", "scale_shift_relu",
           "local_conv2d"]

_LAUNCHERS = {
    "conv2d_fused": "conv",
    "channel_moments": "conv_batch_norm",
    "scale_shift_relu": "conv_batch_norm",
    "local_conv2d": "local_conv",
}


def _interpret_requested() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def _constant_under_compile(fn):
    # Under torch.compile the answer is taken once at trace time: Dynamo cannot trace a
    # failing `import triton` (a CPU-only install) and would break the graph.
    import torch
    return getattr(torch.compiler, "assume_constant_result", lambda f: f)(fn)


@_constant_under_compile
def is_available() -> tuple[bool, str]:
    """(usable, reason): Triton importable, and a CUDA device or TRITON_INTERPRET=1."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return False, f"triton is not importable: {type(exc).__name__}: {exc}"
    version = getattr(triton, "__version__", "?")
    interpret = _interpret_requested()
    # Kernels already defined in the other mode cannot switch (triton.jit decides once).
    mod = sys.modules.get(f"{__name__}.conv")
    if mod is not None:
        defined_interp = mod.defined_interpreted()
        if defined_interp != interpret:
            return False, (
                f"TRITON_INTERPRET={'1' if interpret else '0'} now, but the Triton kernels were "
                f"defined {'with' if defined_interp else 'without'} it; set it before importing "
                "convkernels"
            )
    if interpret:
        return True, f"triton {version} interpreter (TRITON_INTERPRET=1, CPU tensors)"
    import torch

    if torch.cuda.is_available():
        return True, f"triton {version} on {torch.cuda.get_device_name()}"
    return False, "no CUDA device, and TRITON_INTERPRET is not set to 1"


def __getattr__(name: str):
    if name in _LAUNCHERS:
        module = importlib.import_module(f"{__name__}.{_LAUNCHERS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
