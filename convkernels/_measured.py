"""What the committed GPU reports measured: the evidence ``backend="auto"`` and ``algo="auto"``
act on.

``convkernels/dispatch_table.json`` is generated, never typed: ``python -m convkernels.algo
build-table bench/results/*.json`` reads the reports the GPU pass wrote (``make gpu-check`` /
``make gpu-report``) and keeps, per GPU, op, backend, dtype, layout and pass (forward, or
forward + backward):

* ``backend_wins``: the keys where every measured row of our kernel was at least as fast as the
  PyTorch (cuDNN) baseline in the same run, with the rows that decided. ``auto`` chooses a
  convkernels backend on a CUDA tensor only for such a key; everywhere else it chooses PyTorch.
* ``entries``: per conv layer, the measured time of each algorithm (direct, Winograd, cuDNN),
  which ``algo="auto"`` ranks (convkernels/algo.py).

The table is read once, at import and on :func:`reload` (``CONVKERNELS_DISPATCH_TABLE``
overrides its path): the choice runs inside torch.compile traces, which cannot open files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import torch

TABLE_PATH = Path(__file__).with_name("dispatch_table.json")
DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16",
               torch.float64: "fp64"}
#: Bench row modes that include a backward pass (the others are forward only).
BACKWARD_MODES = frozenset({"train", "fwd+bwd", "fwdbwd", "bwd"})
#: A key counts as a win when every one of its rows ran at least this fast relative to cuDNN.
MIN_SPEEDUP = 1.0


def _load() -> dict:
    path = Path(os.environ.get("CONVKERNELS_DISPATCH_TABLE", TABLE_PATH))
    try:
        with open(path) as f:
            table = json.load(f)
    except (OSError, json.JSONDecodeError):
        table = {}
    table.setdefault("entries", [])
    table.setdefault("backend_wins", [])
    return table


_TABLE = _load()
_DEVICE_NAMES: dict[int, str] = {}


def reload() -> dict:
    global _TABLE
    _TABLE = _load()
    return _TABLE


def table() -> dict:
    return _TABLE


#: Decorator: under torch.compile the function runs once, when the region is traced, and its
#: answer is a constant of the graph (shared with backends.get_backend).
constant_under_compile = getattr(torch.compiler, "assume_constant_result", lambda f: f)


# The GPU's name is looked up when a compiled region is traced, as backend selection itself is.
@constant_under_compile
def device_name(device: torch.device) -> Optional[str]:
    """The GPU's marketing name ("NVIDIA H200"): the GPU class the reports are keyed on."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _DEVICE_NAMES:
        _DEVICE_NAMES[index] = torch.cuda.get_device_name(index)
    return _DEVICE_NAMES[index]


def layout_name(channels_last: bool) -> str:
    return "channels_last" if channels_last else "nchw"


def any_backend_wins() -> bool:
    return bool(_TABLE["backend_wins"])


def backend_win(op: str, backend: str, gpu: Optional[str], dtype: torch.dtype, layout: str,
                needs_grad: bool) -> Optional[dict]:
    """The table row that lets ``auto`` choose ``backend`` for this key, or None."""
    if gpu is None or not layout:
        return None
    key = (op, backend, gpu, DTYPE_NAMES.get(dtype), layout, bool(needs_grad))
    for win in _TABLE["backend_wins"]:
        if (win["op"], win["backend"], win["gpu"], win["dtype"], win["layout"],
                win["backward"]) == key:
            return win
    return None


# ---- building the table from reports -------------------------------------------------------

def row_id(row: dict) -> str:
    """A report row's name, as the bench prints it."""
    return (f"{row.get('suite')}:{row.get('op')}[{row.get('backend')}]-{row.get('mode')}-"
            f"{row.get('network')}-{row.get('layer')}-{row.get('dtype')}-{row.get('layout')}")


def base_op(op: str) -> str:
    """'conv2d[winograd_2x2]' -> 'conv2d': a variant's rows count for its op (all must win)."""
    return op.split("[", 1)[0]


CONV_ALGOS = ("direct", "winograd_2x2", "winograd_4x4")


def conv_algo_entries_from_reports(reports: list[tuple[str, dict]]) -> list[dict]:
    """Per conv layer (GPU, dtype, layout, backend, shape): each algorithm's measured median and
    cuDNN's (from the same row's speedup), from the rows named conv2d[<algo>]."""
    entries: dict[tuple, dict] = {}
    for path, report in reports:
        gpu = report.get("meta", {}).get("gpu_name")
        for row in report.get("rows", []):
            op = row.get("op", "")
            algo = op[len("conv2d["):-1] if op.startswith("conv2d[") else ""
            if (algo not in CONV_ALGOS or row.get("status") != "ok"
                    or row.get("backend") not in ("cuda", "triton")
                    or not row.get("speedup_vs_cudnn") or not row.get("median_ms")):
                continue
            shape = row.get("shape", {})
            key = (gpu, row["dtype"], row["layout"], row["backend"], shape.get("N"),
                   shape.get("C"), shape.get("K"), shape.get("H"), shape.get("W"),
                   shape.get("padding"))
            e = entries.setdefault(key, dict(zip(
                ("device", "dtype", "layout", "backend", "N", "C", "K", "H", "W", "padding"),
                key)) | {"ms": {}, "report": path, "rows": []})
            e["ms"][algo] = float(row["median_ms"])
            e["ms"]["cudnn"] = float(row["median_ms"]) / float(row["speedup_vs_cudnn"])
            e["rows"].append(row_id(row))
    return list(entries.values())


def build(report_paths: list[str], about: str) -> dict:
    """The whole dispatch table from report files (what ``build-table`` writes)."""
    reports = []
    repo = TABLE_PATH.parents[1]
    for path in sorted(report_paths):
        with open(path) as f:
            reports.append((os.path.relpath(Path(path).resolve(), repo), json.load(f)))
    commits = sorted({r.get("meta", {}).get("git_commit") or "unknown" for _, r in reports})
    return {"about": about, "generated_by": "python -m convkernels.algo build-table",
            "reports": [p for p, _ in reports], "source_commits": commits,
            "backend_wins": backend_wins_from_reports(reports),
            "entries": conv_algo_entries_from_reports(reports)}


def backend_wins_from_reports(reports: list[tuple[str, dict]]) -> list[dict]:
    """(report path, report) pairs -> the ``backend_wins`` list (see the module docstring).

    Only rows that ran (status ok, with a speedup against cuDNN) count; a key with any row
    below MIN_SPEEDUP is left out, so one slow layer keeps the whole key on PyTorch.
    """
    groups: dict[tuple, list] = {}
    for path, report in reports:
        gpu = report.get("meta", {}).get("gpu_name")
        for row in report.get("rows", []):
            if row.get("backend") not in ("cuda", "triton") or row.get("status") != "ok":
                continue
            speedup = row.get("speedup_vs_cudnn")
            if speedup is None:
                continue
            key = (base_op(row["op"]), row["backend"], gpu, row.get("dtype"), row.get("layout"),
                   row.get("mode") in BACKWARD_MODES)
            groups.setdefault(key, []).append(
                {"report": path, "row": row_id(row), "speedup_vs_cudnn": round(speedup, 4)})
    wins = []
    for (op, backend, gpu, dtype, layout, backward), rows in sorted(
            groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        if gpu and all(r["speedup_vs_cudnn"] >= MIN_SPEEDUP for r in rows):
            wins.append({"op": op, "backend": backend, "gpu": gpu, "dtype": dtype,
                         "layout": layout, "backward": backward,
                         "min_speedup_vs_cudnn": min(r["speedup_vs_cudnn"] for r in rows),
                         "rows": rows})
    return wins
