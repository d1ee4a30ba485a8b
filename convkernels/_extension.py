"""Loading of the compiled extension ``convkernels._C``.

The extension is optional: without a CUDA-enabled torch (or without nvcc at install time)
the package installs pure-Python and the ``triton`` and ``torch`` backends still work.
An extension that exists but fails to load is a build/torch mismatch; we keep the reason
so that an explicit ``backend="cuda"`` request can say exactly what to do.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import re
import sys

import torch

REBUILD_COMMAND = "pip install --no-build-isolation --force-reinstall --no-deps ."


def _rebuild_hint(reason: str) -> str:
    return f"{reason}. Rebuild the extension for this environment: `{REBUILD_COMMAND}`"


@functools.lru_cache(maxsize=None)
def load() -> tuple[bool, str]:
    """Import convkernels._C once. Returns (loaded, reason-if-not).

    Nothing here calls a compiled operator: importing convkernels must never be able to crash
    the interpreter, whatever the torch it runs on. Build facts come from a plain function of
    the ``_C`` module (see :func:`build_info`).
    """
    if importlib.util.find_spec("convkernels._C") is None:
        return False, ("the CUDA extension convkernels._C is not built (it is built by "
                       "`pip install --no-build-isolation .` when torch has CUDA and nvcc is "
                       "found)")
    try:
        module = importlib.import_module("convkernels._C")  # registers torch.ops.convkernels.*
    except ImportError as e:  # undefined symbols: built against another torch
        return False, _rebuild_hint(f"convkernels._C failed to load ({e}); it was probably "
                                    f"built against a different torch than {torch.__version__}")
    if not callable(getattr(module, "build_info", None)):
        return False, _rebuild_hint("convkernels._C predates this version of the package (it "
                                    "has no build_info())")
    built = build_info().get("torch", "")
    if not built:
        return False, _rebuild_hint("convkernels._C does not say which torch it was built "
                                    "against")
    if _release(built) != _release(torch.__version__):
        return False, _rebuild_hint(f"convkernels._C was built against torch {built} but torch "
                                    f"{torch.__version__} is installed")
    return True, ""


def _release(version: str) -> str:
    """'2.11.0+cu130' -> '2.11.0' (the local build tag does not change the C++ ABI)."""
    return version.split("+")[0]


@functools.lru_cache(maxsize=None)
def build_info() -> dict:
    """What the extension was compiled with (empty dict when it is not importable).

    History: this used to be a ``() -> str`` dispatcher op called at import. The CPU-side
    dispatcher cannot compute a dispatch key for an operator without tensor arguments, and how
    it falls through to the CompositeExplicitAutograd kernel differs between torch releases;
    on torch 2.11 the call died with SIGSEGV inside ``OpOverloadPacket.__call__`` and took the
    whole import down with it. A plain module function has no such dependency.
    """
    module = sys.modules.get("convkernels._C")
    if module is None:
        try:
            module = importlib.import_module("convkernels._C")
        except ImportError:
            return {}
    fn = getattr(module, "build_info", None)
    if not callable(fn):
        return {}
    raw = fn()
    try:
        return json.loads(raw)
    except json.JSONDecodeError:  # a malformed string is a build bug, not a user error
        return {"raw": raw}


def compiled_archs() -> list[str]:
    """Archs as 'sm_80'-style strings."""
    return list(build_info().get("archs", []))


def arch_problem(device: torch.device) -> str:
    """Empty if the extension has code for this device's arch, else the reason and fix."""
    if not torch.cuda.is_available():
        return "no CUDA device is available"
    major, minor = torch.cuda.get_device_capability(device)
    archs = compiled_archs()
    here = major * 10 + minor
    if not archs or any(_arch_number(a, "sm_") == here for a in archs):
        return ""
    # PTX for an older arch JIT-compiles forward; SASS does not. Arch-specific PTX
    # ("compute_90a") does not JIT to other archs.
    if any(not a.endswith("a") and 0 < _arch_number(a, "compute_") <= here for a in archs):
        return ""
    return (f"convkernels._C was built for {', '.join(archs)} but this GPU is sm_{major}{minor}. "
            f"Rebuild: `TORCH_CUDA_ARCH_LIST={major}.{minor} {REBUILD_COMMAND}`")


def _arch_number(arch: str, prefix: str) -> int:
    """'sm_90a' -> 90 for prefix 'sm_'; 0 when the prefix differs."""
    m = re.fullmatch(re.escape(prefix) + r"(\d+)a?", arch)
    return int(m.group(1)) if m else 0
