"""Loading of the compiled extension ``convkernels._C``.

The extension is optional: without a CUDA-enabled torch (or without nvcc at install time)
the package installs pure-Python and the ``triton`` and ``torch`` backends still work.
An extension that exists but fails to load is a build/torch mismatch; we keep the reason
so that an explicit ``backend="cuda"`` request can say exactly what to do.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path

import torch

REBUILD_COMMAND = "pip install --no-build-isolation --force-reinstall --no-deps ."


def _rebuild_hint(reason: str) -> str:
    return f"{reason}. Rebuild the extension for this environment: `{REBUILD_COMMAND}`"


BUILD_FACTS_NAME = "_C.build.json"  # written by setup.py beside the compiled library


_LOADED: tuple[bool, str] | None = None
_BUILD_INFO: dict | None = None


def load() -> tuple[bool, str]:
    """(loaded, reason-if-not), computed once (at package import) and then read from a module
    global: torch.compile traces through this (backend selection) and must not reach
    importlib's find_spec, which Dynamo refuses to trace."""
    global _LOADED
    if _LOADED is None:
        _LOADED = _load_once()
    return _LOADED


def _load_once() -> tuple[bool, str]:
    """Import convkernels._C. Returns (loaded, reason-if-not).

    Nothing here runs code of ours from the compiled library: the build facts are a JSON file
    that setup.py writes beside it (see :func:`build_info`). Importing convkernels can then
    never crash the interpreter, whatever the torch and C++ runtime it runs on.
    """
    spec = importlib.util.find_spec("convkernels._C")
    if spec is None:
        return False, ("the CUDA extension convkernels._C is not built (it is built by "
                       "`pip install --no-build-isolation .` when torch has CUDA and nvcc is "
                       "found)")
    built = build_info().get("torch", "")
    if not built:
        return False, _rebuild_hint(f"convkernels._C has no readable {BUILD_FACTS_NAME} beside "
                                    "it (a build from an older version of the package?)")
    if build_info().get("libstdcxx_linkage") == "static":
        return False, (
            f"convkernels._C carries a static copy of the C++ standard library (its compiler, "
            f"{build_info().get('host_compiler', 'unknown')}, links it that way), whose "
            f"iostreams crash at run time. Rebuild it with the system compiler: "
            f"`CC=/usr/bin/gcc CXX=/usr/bin/g++ {REBUILD_COMMAND}`")
    if _release(built) != _release(torch.__version__):
        return False, _rebuild_hint(f"convkernels._C was built against torch {built} but torch "
                                    f"{torch.__version__} is installed")
    try:
        importlib.import_module("convkernels._C")  # registers torch.ops.convkernels.*
    except ImportError as e:  # undefined symbols: built against another torch
        return False, _rebuild_hint(f"convkernels._C failed to load ({e}); it was probably "
                                    f"built against a different torch than {torch.__version__}")
    return True, ""


def _release(version: str) -> str:
    """'2.11.0+cu130' -> '2.11.0' (the local build tag does not change the C++ ABI)."""
    return version.split("+")[0]


def build_info() -> dict:
    """Cached :func:`read_build_info` (a module global, for the same reason as :func:`load`)."""
    global _BUILD_INFO
    if _BUILD_INFO is None:
        _BUILD_INFO = read_build_info()
    return _BUILD_INFO


def read_build_info() -> dict:
    """What the extension was compiled with: torch, CUDA, nvcc, archs, host compiler (from
    ``_C.build.json`` beside it; empty when there is none).

    History: this used to come from the library itself, a ``() -> str`` op called at import,
    and on the reference GPU machine (torch 2.11) that call died with SIGSEGV. The dispatcher
    was not the cause: the same string built by a plain module function crashed too, and the
    same source built against torch 2.11 with a system g++ works. That machine's default
    compiler, a g++ wrapper, links libstdc++ statically into the extension (``ldd`` shows no
    libstdc++), and that private copy's iostreams crash (std::ostringstream; every TORCH_CHECK
    message uses one). Rebuilt with the system g++, the library links the shared libstdc++ and
    ``tools/check_extension_runtime.py`` passes. Hence: the facts live in a file, the linkage is
    one of them, and :func:`load` refuses a static one with the rebuild command.
    """
    spec = importlib.util.find_spec("convkernels._C")
    if spec is None or not spec.origin:
        return {}
    path = Path(spec.origin).with_name(BUILD_FACTS_NAME)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


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
