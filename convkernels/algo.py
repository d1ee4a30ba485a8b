"""Which convolution algorithm ``algo="auto"`` runs, and why.

For one conv2d call, ``auto`` first lets :mod:`convkernels.backends` choose the backend
exactly as for any op. Then:

* backend ``torch`` -> cuDNN (aten ``F.conv2d``; cuDNN picks its own algorithm). On CUDA
  tensors this is what happens today: no convkernels kernel is in ``backends.GPU_VERIFIED``.
* backend ``cuda`` / ``triton`` -> one of ``direct``, ``winograd_2x2``, ``winograd_4x4`` or
  ``cudnn``:

  1. a **measurement** from the committed dispatch table (``dispatch_table.json``, written
     by ``python -m convkernels.algo build-table`` from a GPU bench report of
     ``bench/test_winograd.py``) for this device, dtype, layout and layer: the fastest
     measured algorithm that is numerically allowed;
  2. otherwise the **heuristic** (documented in docs/ops/winograd.md): Winograd F(2x2)
     for 3x3 / stride 1 / dilation 1 / groups 1 layers with C >= 32, K >= 32 and an output
     of at least 8 x 8 (enough tiles and a long enough reduction for the transforms to pay
     off, as on the VGG-16 / ResNet-50 3x3 layers); ``direct`` for everything else.

Numerics gate: ``auto`` never picks an algorithm that fails the test suite's tolerance rule
for that dtype (error vs float64 <= 2x PyTorch's own, plus a small floor; tests/harness.py).
F(4x4, 3x3) fails it in every dtype on the real layers
(fp32 ~25x, fp16 ~15x and bf16 ~15x PyTorch's own error, measured in
tests/test_winograd.py and docs/ops/winograd.md), so ``auto`` never picks it; it stays
available as an explicit ``algo="winograd_4x4"`` with its documented, tested bound.

The table is empty today (nothing has run on a GPU), so every choice is the heuristic's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from . import _checks, backends
from .ops import winograd

TABLE_PATH = Path(__file__).with_name("dispatch_table.json")
ALGOS = ("direct", "winograd_2x2", "winograd_4x4", "cudnn")

#: (algo, dtype) pairs that meet the tolerance rule (tests/harness.py) on the real layers.
RULE_SAFE: frozenset[tuple[str, torch.dtype]] = frozenset(
    (a, d) for a in ("direct", "winograd_2x2", "cudnn")
    for d in (torch.float32, torch.float16, torch.bfloat16, torch.float64))

# Heuristic thresholds (see the module docstring).
MIN_CHANNELS = 32
MIN_OUTPUT_SIDE = 8

_DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16",
                torch.float64: "fp64"}


@dataclass(frozen=True)
class Choice:
    """What runs for one layer: backend, algorithm, and the reason in words."""

    backend: str
    algo: str
    reason: str
    measured: bool = False
    candidates: dict = field(default_factory=dict)  # algo -> measured ms
    workspace: dict = field(default_factory=dict)   # Winograd: bytes beyond input and output

    def __str__(self) -> str:
        return f"{self.backend}/{self.algo}: {self.reason}"


def _load_table() -> dict:
    path = Path(os.environ.get("CONVKERNELS_DISPATCH_TABLE", TABLE_PATH))
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return {"entries": []}


# Read once (at import, and on reload_table()): the chooser runs inside torch.compile traces,
# which cannot open files.
_TABLE = _load_table()


def reload_table() -> dict:
    """Re-read the dispatch table (``CONVKERNELS_DISPATCH_TABLE`` overrides the path)."""
    global _TABLE
    _TABLE = _load_table()
    return _TABLE


def _table() -> dict:
    return _TABLE


def layout_name(channels_last: bool) -> str:
    return "channels_last" if channels_last else "nchw"


def lookup(g, dtype: torch.dtype, layout: str, device_name: Optional[str],
           backend: str, entries: list) -> Optional[dict]:
    """The measured entry for this layer (closest batch size), or None."""
    best = None
    for e in entries:
        if (e.get("device") != device_name or e.get("dtype") != _DTYPE_NAMES.get(dtype)
                or e.get("layout") != layout or e.get("backend") != backend):
            continue
        if (e["C"], e["K"], e["H"], e["W"], e["padding"]) != (g.C, g.K, g.H, g.W,
                                                               g.padding[0]):
            continue
        if best is None or abs(e["N"] - g.N) < abs(best["N"] - g.N):
            best = e
    return best


def heuristic(g, dtype: torch.dtype) -> tuple[str, str]:
    why_not = winograd.unsupported_reason(g, "winograd_2x2")
    if why_not:
        return "direct", f"heuristic: Winograd does not apply ({why_not.split('needs ')[1]})"
    if min(g.C, g.K) < MIN_CHANNELS:
        return "direct", (f"heuristic: C={g.C}, K={g.K} < {MIN_CHANNELS}: the transforms "
                          f"would not pay off over so short a reduction")
    if min(g.P, g.Q) < MIN_OUTPUT_SIDE:
        return "direct", (f"heuristic: output {g.P}x{g.Q} is smaller than "
                          f"{MIN_OUTPUT_SIDE}x{MIN_OUTPUT_SIDE}: ragged tiles waste the gain")
    return "winograd_2x2", ("heuristic: 3x3/s1 with C, K >= 32 and output >= 8x8: F(2x2,3x3) "
                            "does 2.25x fewer multiplies; F(4x4) is excluded by the numerics "
                            "gate")


def choose(g, dtype: torch.dtype, device: torch.device, channels_last: bool,
           backend: Optional[str] = None, needs_grad: bool = False) -> Choice:
    """The algorithm ``conv2d(..., algo="auto", backend=backend)`` runs for geometry ``g``."""
    call = backends.Call("conv2d", device, dtype, g.groups, needs_grad, {"algo": "auto"})
    selected = backends.select(call, backend).backend
    if selected == "torch":
        return Choice("torch", "cudnn" if device.type == "cuda" else "aten",
                      "the torch backend was selected (on CUDA tensors: no convkernels kernel "
                      "is GPU-verified yet); aten/cuDNN picks its own algorithm")
    entries = _table().get("entries", [])
    entry = None
    if entries:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" and \
            torch.cuda.is_available() else None
        entry = lookup(g, dtype, layout_name(channels_last), name, selected, entries)
    if entry is not None:
        ranked = sorted(entry["ms"].items(), key=lambda kv: kv[1])
        for algo, ms in ranked:
            if (algo, dtype) in RULE_SAFE:
                backend_out = "torch" if algo == "cudnn" else selected
                return Choice(backend_out, algo, f"measured: {ms:.3f} ms, fastest allowed of "
                              f"{dict(ranked)} (N={entry['N']}, {entry['device']})",
                              True, dict(ranked))
    algo, why = heuristic(g, dtype)
    return Choice(selected, algo, why + " (no measurement for this layer)")


def explain(op: str = "conv2d", input_shape=(1, 64, 56, 56), weight_shape=(64, 64, 3, 3), *,
            stride=1, padding=1, dilation=1, groups: int = 1, dtype=torch.float16,
            device="cuda", channels_last: bool = False, backend: Optional[str] = None,
            algo: str = "auto") -> Choice:
    """Which backend and algorithm run for one layer, and why. Nothing is allocated or run.

    Example::

        >>> print(convkernels.explain("conv2d", (64, 256, 56, 56), (256, 256, 3, 3),
        ...                           padding=1, dtype=torch.float16))
        torch/cudnn: the torch backend was selected (...)

    A backend that cannot run the call here (``backend="cuda"`` without a GPU) is explained,
    not raised: ``algo`` is ``"unavailable"`` and the reason says why, and what the
    heuristic would pick where it can run.
    """
    if op != "conv2d":
        raise ValueError(f"convkernels.explain: only 'conv2d' has algorithm choices, got {op!r}")
    x = torch.empty(input_shape, dtype=dtype, device="meta")
    w = torch.empty(weight_shape, dtype=dtype, device="meta")
    g, _ = _checks.check_conv2d("conv2d", x, w, None, stride, padding, dilation, groups)
    device = torch.device(device)
    try:
        if algo != "auto":
            if algo in winograd.ALGOS:
                winograd.check_algo("conv2d", g, algo)
            op_name = winograd.OP if algo in winograd.ALGOS else "conv2d"
            call = backends.Call(op_name, device, dtype, groups, False, {"algo": algo})
            choice = Choice(backends.select(call, backend).backend, algo,
                            "requested explicitly")
        else:
            choice = choose(g, dtype, device, channels_last, backend)
    except backends.BackendUnavailableError as e:
        # Explaining is the point: say why this call cannot run here, and what the
        # heuristic would pick where the backend can run it.
        would, why = heuristic(g, dtype) if algo == "auto" else (algo, "requested explicitly")
        return Choice(backend or "auto", "unavailable",
                      f"cannot run here: {e}. Where it can run: {would} ({why})")
    if choice.backend == "torch" and device.type == "cpu" and algo == "auto":
        choice = dataclasses.replace(choice, reason=(
            "CPU tensors run on the torch backend (aten picks its own algorithm); "
            "TRITON_INTERPRET=1 makes backend='auto' run the Triton kernels in the "
            "interpreter instead"))
    if choice.algo in winograd.ALGOS:
        choice = dataclasses.replace(
            choice, workspace=winograd.workspace_bytes(g, choice.algo, dtype))
    return choice


def summary() -> dict:
    """For ``convkernels.info()``: the table's provenance and the heuristic in one line."""
    t = _table()
    return {"dispatch_table": str(TABLE_PATH), "measured_entries": len(t.get("entries", [])),
            "source_commit": t.get("source_commit"),
            "heuristic": f"winograd_2x2 for 3x3/s1/d1/g1 with C,K >= {MIN_CHANNELS} and output "
                         f">= {MIN_OUTPUT_SIDE}x{MIN_OUTPUT_SIDE}, else direct; winograd_4x4 "
                         f"never (numerics gate)",
            "winograd_filter_cache": {"entries": len(winograd.filter_cache),
                                      "bytes": winograd.filter_cache.nbytes}}


def table_from_rows(rows: list[dict], source_commit: str) -> dict:
    """Build the dispatch table from bench rows: dicts with device, dtype, layout, backend,
    algo, N, C, K, H, W, padding, ms (the median). One entry per layer keeps every algo's
    time."""
    entries: dict[tuple, dict] = {}
    for r in rows:
        key = (r["device"], r["dtype"], r["layout"], r["backend"], r["N"], r["C"], r["K"],
               r["H"], r["W"], r["padding"])
        e = entries.setdefault(key, {k: r[k] for k in ("device", "dtype", "layout", "backend",
                                                       "N", "C", "K", "H", "W", "padding")}
                               | {"ms": {}})
        e["ms"][r["algo"]] = float(r["ms"])
    return {"about": _table().get("about", ""), "source_commit": source_commit,
            "device": sorted({e["device"] for e in entries.values()}),
            "entries": list(entries.values())}


def main(argv=None) -> None:
    import argparse
    import subprocess
    ap = argparse.ArgumentParser(prog="python -m convkernels.algo")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-table", help="write dispatch_table.json from bench rows (JSON list)")
    b.add_argument("rows")
    b.add_argument("--out", default=str(TABLE_PATH))
    args = ap.parse_args(argv)
    with open(args.rows) as f:
        rows = json.load(f)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or None
    with open(args.out, "w") as f:
        json.dump(table_from_rows(rows, commit), f, indent=2)


if __name__ == "__main__":
    main()
