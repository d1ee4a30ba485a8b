"""The benchmark report: one JSON object ``{"schema", "meta", "rows"}``.

A report is evidence: it is written only by this module from measured rows, never
by hand. ``meta`` holds the environment once (GPU, driver, versions, git commit, date, the
TF32 and cudnn.benchmark settings, the peaks used); each row is one (case, backend)
measurement. Rows from several runs on the same commit and GPU merge into one file (so a
long matrix can run as several back-to-back commands); a report from another commit or
GPU is replaced, never mixed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional

SCHEMA = "convkernels.bench/1"

#: Row fields in CSV column order, with what they mean.
ROW_FIELDS: dict[str, str] = {
    "suite": "which bench suite produced the row (conv_ops, or an op family of opbench)",
    "op": "the public op (or network) timed, e.g. conv2d, fused_conv_bn_relu, max_pool2d",
    "mode": "eval / fwd (forward) | train / fwd+bwd (forward+backward)",
    "network": "the network the shape comes from",
    "layer": "the layer's name (conv_ops: module path of its first occurrence in torchvision)",
    "count": "how many times this conv occurs in the network",
    "shape": ("conv_ops: {N, C, H, W, K, R, S, stride, padding, dilation, groups}; "
              "opbench: the op's parameters (always N)"),
    "dtype": "fp16 | bf16 | fp32",
    "tf32": "whether TF32 tensor cores were allowed (fp32 only; cuDNN and matmul flags)",
    "layout": "channels_last | nchw",
    "backend": "cuda | triton (ours) | cudnn (eager PyTorch) | compile (torch.compile)",
    "compile_mode": "torch.compile mode actually used (compile rows only)",
    "compile_s": "seconds the first call took (compilation and autotuning; compile rows only)",
    "status": "ok | skipped | error",
    "reason": "why skipped / what failed (max error vs cuDNN for a wrong result)",
    "max_err": "max |out - cuDNN out| / max |cuDNN out| measured before timing",
    "median_ms": "median GPU time per call, L2 flushed before each rep",
    "p20_ms": "20th percentile", "p80_ms": "80th percentile",
    "tflops": "FLOPs (2*N*K*P*Q*C*R*S/groups, x3 in train mode) / median time",
    "pct_peak": "tflops / the device's dense peak for the dtype, in percent",
    "pct_hbm": "gbps / the device's HBM bandwidth, in percent (the bound of memory-bound ops)",
    "peak_mb": "device memory one call allocates at its peak beyond its inputs (opbench rows)",
    "gbps": "compulsory bytes (input + weight + output, once each) / median time",
    "speedup_vs_cudnn": "cudnn median / this median (same case)",
    "speedup_vs_compile": "compile median / this median (same case)",
    "timing_method": "triton.do_bench | cuda-events",
}
SHAPE_KEYS = ("N", "C", "H", "W", "K", "R", "S", "stride", "padding", "dilation", "groups")
BASELINES = ("cudnn", "compile")


def case_key(row: dict) -> tuple:
    """Rows with the same case key measured the same computation on different backends."""
    s = row.get("shape") or {}
    return (row.get("suite"), row.get("op"), row.get("mode"), row.get("network"),
            row.get("layer"), s.get("N"), row.get("dtype"), bool(row.get("tf32")),
            row.get("layout"))


def row_key(row: dict) -> tuple:
    return case_key(row) + (row.get("backend"),)


def new_row(**fields) -> dict:
    """A row with every schema field present (None when not applicable)."""
    unknown = set(fields) - set(ROW_FIELDS)
    if unknown:
        raise KeyError(f"not report row fields: {sorted(unknown)}")
    return {k: fields.get(k) for k in ROW_FIELDS}


def derive_speedups(rows: list[dict]) -> None:
    """Fill speedup_vs_cudnn / _vs_compile from the baselines of the same case, in place."""
    base: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r.get("backend") in BASELINES and r.get("status") == "ok" and r.get("median_ms"):
            base.setdefault(case_key(r), {})[r["backend"]] = r["median_ms"]
    for r in rows:
        b = base.get(case_key(r), {})
        ok = r.get("status") == "ok" and r.get("median_ms")
        for name in BASELINES:
            field = f"speedup_vs_{name}"
            r[field] = (b[name] / r["median_ms"]) if ok and name in b else None


# ---- reading and writing ------------------------------------------------------------------

def load(path: os.PathLike) -> dict:
    with open(path) as f:
        report = json.load(f)
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a convkernels bench report (schema {SCHEMA!r} expected)")
    return report


_SAME_RUN_KEYS = ("gpu_name", "git_commit", "git_dirty", "torch", "triton", "cudnn", "driver")


def compatible(old_meta: dict, new_meta: dict) -> bool:
    """Same GPU, commit (and dirty flag), driver and software: rows may be merged."""
    return all(old_meta.get(k) == new_meta.get(k) for k in _SAME_RUN_KEYS)


def merge(old: Optional[dict], meta: dict, rows: Iterable[dict]) -> tuple[dict, str]:
    """New report = old rows (if the old report measured the same commit on the same GPU and
    software) updated by ``rows``. Returns (report, a note saying what happened)."""
    rows = list(rows)
    note = "new report"
    merged: dict[tuple, dict] = {}
    sessions = []
    if old is not None:
        if compatible(old.get("meta", {}), meta):
            for r in old.get("rows", []):
                merged[row_key(r)] = r
            sessions = list(old.get("meta", {}).get("sessions", []))
            note = f"merged into the existing report ({len(merged)} rows before)"
        else:
            note = "replaced an existing report from another commit, GPU or software stack"
    for r in rows:
        merged[row_key(r)] = r
    meta = dict(meta)
    # One entry per run; a run that checkpoints rewrites its own entry (same run_id).
    run_id = meta.get("run_id") or meta.get("date_utc")
    sessions = [s for s in sessions if s.get("run_id") != run_id]
    sessions.append({"run_id": run_id, "date_utc": meta.get("date_utc"), "rows": len(rows),
                     "selection": meta.get("selection")})
    meta["sessions"] = sessions
    out_rows = list(merged.values())
    derive_speedups(out_rows)
    return {"schema": SCHEMA, "meta": meta, "rows": out_rows}, note


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)   # mkstemp makes 0600; a report is meant to be read and committed
    os.replace(tmp, path)


def write(path: os.PathLike, meta: dict, rows: Iterable[dict],
          formats: Iterable[str] = ("json", "md", "csv")) -> tuple[dict, str, list[Path]]:
    """Merge ``rows`` into the report at ``path`` (JSON) and write the .md / .csv beside it."""
    path = Path(path)
    old = None
    if path.exists():
        try:
            old = load(path)
        except (ValueError, json.JSONDecodeError):
            old = None
    report, note = merge(old, meta, rows)
    formats = set(formats)
    written = []
    if "json" in formats:
        _atomic_write(path, json.dumps(report, indent=1, sort_keys=False) + "\n")
        written.append(path)
    if "md" in formats:
        from .render import render_markdown
        _atomic_write(path.with_suffix(".md"), render_markdown(report))
        written.append(path.with_suffix(".md"))
    if "csv" in formats:
        _atomic_write(path.with_suffix(".csv"), to_csv(report))
        written.append(path.with_suffix(".csv"))
    return report, note, written


def to_csv(report: dict) -> str:
    """One line per row; the shape flattened into columns, meta's identity repeated on each
    line so a CSV row stands alone (GPU, driver, versions, commit)."""
    meta = report.get("meta", {})
    meta_cols = ("gpu_name", "driver", "torch", "cuda_runtime", "cudnn", "triton", "git_commit",
                 "date_utc")
    cols = [k for k in ROW_FIELDS if k != "shape"]
    header = cols[:5] + list(SHAPE_KEYS) + cols[5:] + list(meta_cols)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in report.get("rows", []):
        s = r.get("shape") or {}
        vals = [r.get(k) for k in cols]
        w.writerow(vals[:5] + [s.get(k) for k in SHAPE_KEYS] + vals[5:]
                   + [meta.get(k) for k in meta_cols])
    return buf.getvalue()
