"""The environment a report was measured in, and the GPU's peaks (see
:mod:`convkernels._peaks`) that its "% of peak" columns are judged against.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from .._peaks import peaks_for

REPO_ROOT = Path(__file__).resolve().parents[2]


# ---- environment -------------------------------------------------------------------------

def _run(cmd: list[str], cwd: Optional[Path] = None) -> Optional[str]:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(root: Path = REPO_ROOT) -> dict:
    """Commit measured and whether tracked files differed from it (untracked files don't count:
    bench/out/ and caches live in the tree)."""
    commit = _run(["git", "rev-parse", "HEAD"], root)
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], root)
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def driver_version() -> Optional[str]:
    out = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    if out:
        return out.splitlines()[0].strip()
    try:   # pynvml is optional
        import pynvml
        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:
        return None


def _convkernels_info() -> Optional[dict]:
    """convkernels.info() if the package provides it; absolute paths reduced to file names so a
    committed report names no user or host."""
    try:
        import convkernels
        try:
            info = convkernels.info(verbose=False)   # the dict only, no printing
        except TypeError:
            info = convkernels.info()
    except Exception as e:   # absent while the package is being written, or broken
        return {"unavailable": f"{type(e).__name__}: {e}"}

    def scrub(v):
        if isinstance(v, dict):
            return {str(k): scrub(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [scrub(x) for x in v]
        if isinstance(v, str) and os.path.isabs(v):
            return os.path.basename(v)
        return v if isinstance(v, (int, float, bool, type(None))) else str(v)
    return scrub(info)


def capture(device_index: int = 0) -> dict:
    """Everything a report records about the machine, once per report. Hostname-free on purpose."""
    import torch
    env: dict = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    try:
        import triton
        env["triton"] = triton.__version__
    except Exception as e:
        env["triton"] = None
        env["triton_error"] = f"{type(e).__name__}: {e}"
    env.update(git_state())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(device_index)
        env.update(gpu_name=props.name, gpu_capability=f"{props.major}.{props.minor}",
                   gpu_sm_count=props.multi_processor_count,
                   gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   driver=driver_version())
    else:
        env.update(gpu_name=None, driver=None)
    peaks = peaks_for(env.get("gpu_name"))
    env["peaks"] = asdict(peaks) if peaks else None
    env["peaks_note"] = ("datasheet dense peaks for " + peaks.name if peaks else
                         "GPU not in convkernels.bench.device's peak table: % of peak not computed")
    env["convkernels_info"] = _convkernels_info()
    return env
