"""Markdown rendering of a report, and ``render_latest`` for the newest committed report.

Every number printed here comes from a report's rows; nothing is typed in.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Optional

from .report import SHAPE_KEYS, load
from .summary import evaluate_targets, summarize

NO_REPORT = ("No GPU report has been committed yet: bench/results/ holds no report. Run "
             "`make gpu-check OUT=<dir>` (or the full `make gpu-report OUT=<dir>`) on a GPU "
             "machine, commit its report.json there (naming: bench/results/README.md) and "
             "regenerate the dispatch table (`python -m convkernels.algo build-table "
             "bench/results/*.json`).")


def _f(v, fmt: str, none: str = "—") -> str:
    return none if v is None else format(v, fmt)


def _x(v) -> str:
    return "—" if v is None else f"{v:.2f}×"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(text: Optional[str], n: int = 70) -> str:
    text = _cell(text or "")
    return text if len(text) <= n else text[: n - 1] + "…"


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def describe_meta(meta: dict) -> list[str]:
    commit = (meta.get("git_commit") or "unknown")[:12]
    dirty = " (with uncommitted changes)" if meta.get("git_dirty") else ""
    gpu = meta.get("gpu_name") or "no GPU"
    extra = ", ".join(x for x in (
        f"sm_{meta['gpu_capability'].replace('.', '')}" if meta.get("gpu_capability") else "",
        f"{meta['gpu_sm_count']} SMs" if meta.get("gpu_sm_count") else "") if x)
    lines = [
        f"Measured on **{gpu}**" + (f" ({extra})" if extra else "")
        + f", driver {meta.get('driver') or 'unknown'}; torch {meta.get('torch')}, "
        f"CUDA {meta.get('cuda_runtime')}, cuDNN {meta.get('cudnn')}, "
        f"triton {meta.get('triton')}; commit `{commit}`{dirty}; {meta.get('date_utc')}.",
        "",
        f"Settings: `torch.backends.cudnn.benchmark={meta.get('cudnn_benchmark')}`; "
        f"fp32 rows without TF32 ran with {meta.get('tf32_off_setting')}; "
        f"TF32 rows with {meta.get('tf32_on_setting')}. Timing: {meta.get('timing')}. "
        f"Peaks: {meta.get('peaks_note')}.",
    ]
    return lines


def render_targets(rows: list[dict], summaries=None) -> list[str]:
    res = evaluate_targets(rows, summaries)
    body = []
    for r in res:
        goal = f"≥ {r.target.goal:.1f}×" + (f" (stretch {r.target.stretch:.1f}×)"
                                           if r.target.stretch else "")
        modes = f" [compile: {', '.join(r.compile_modes)}]" if r.compile_modes else ""
        body.append([r.target.text + modes, r.backend, _x(r.value), goal,
                     f"{r.layers}/{r.expected}", r.verdict])
    return _table(["target (geomean over the distinct layers)", "backend", "measured", "goal",
                   "layers", "verdict"], body)


def render_summary(rows: list[dict], summaries=None, backends=None) -> list[str]:
    body = []
    for g in summaries if summaries is not None else summarize(rows):
        lab = g.label
        if backends and lab["backend"] not in backends:
            continue
        body.append([lab["op"], lab["mode"], lab["network"], lab["batch"], lab["dtype"],
                     lab["layout"], lab["backend"], f"{g.ok}/{g.cases}",
                     _x(g.vs_cudnn) + (f" (n={g.n_cudnn})" if g.vs_cudnn else ""),
                     _x(g.vs_compile) + (f" (n={g.n_compile}, {'/'.join(g.compile_modes)})"
                                         if g.vs_compile else ""),
                     _x(g.weighted_vs_cudnn), _f(g.mean_pct_peak, ".1f")])
    return _table(["op", "mode", "network", "batch", "dtype", "layout", "backend", "ok",
                   "× cuDNN geomean", "× compile geomean", "× cuDNN count-weighted",
                   "mean % peak"], body)


_CONV_KEYS = {"C", "H", "W", "K", "R", "S"}


def _shape_text(s: dict) -> str:
    if not s:
        return ""
    if not _CONV_KEYS <= set(s):   # an opbench row: its own parameters, batch shown apart
        return " ".join(f"{k}={v}" for k, v in s.items() if k != "N")
    return (f"{s.get('C')}x{s.get('H')}x{s.get('W')}→{s.get('K')} {s.get('R')}x{s.get('S')}"
            f"/{s.get('stride')} p{s.get('padding')}")


def render_rows(rows: list[dict]) -> list[str]:
    body = []
    for r in rows:
        s = r.get("shape") or {}
        ms = (f"{r['median_ms']:.3f} ({r['p20_ms']:.3f}–{r['p80_ms']:.3f})"
              if r.get("median_ms") is not None else "—")
        dt = r.get("dtype") + ("+tf32" if r.get("tf32") and r.get("dtype") == "fp32" else "")
        backend = r.get("backend") + (f" ({r['compile_mode']})" if r.get("compile_mode") else "")
        status = r.get("status") if r.get("status") == "ok" else (
            f"{r.get('status')}: {_short(r.get('reason'))}")
        body.append([r.get("op"), r.get("mode"), r.get("network"), r.get("layer"),
                     _shape_text(s), s.get("N"), dt, r.get("layout"), backend, ms,
                     _f(r.get("tflops"), ".1f"), _f(r.get("pct_peak"), ".1f"),
                     _f(r.get("gbps"), ".0f"), _f(r.get("pct_hbm"), ".0f"),
                     _x(r.get("speedup_vs_cudnn")),
                     _x(r.get("speedup_vs_compile")), status])
    return _table(["op", "mode", "net", "layer", "shape", "N", "dtype", "layout", "backend",
                   "ms median (p20–p80)", "TFLOP/s", "% peak", "GB/s", "% HBM", "× cuDNN",
                   "× compile", "status"], body)


def render_markdown(report: dict) -> str:
    meta, rows = report.get("meta", {}), report.get("rows", [])
    summaries = summarize(rows)
    counts = Counter(r.get("status") for r in rows)
    out = ["# convkernels benchmark report", ""] + describe_meta(meta) + [
        "", f"{len(rows)} rows: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".",
        "", "## Targets", ""] + render_targets(rows, summaries) + [
        "", "## Geomean speedups per group", ""] + render_summary(rows, summaries)
    reasons = Counter(_short(r.get("reason"), 160) for r in rows if r.get("status") != "ok")
    if reasons:
        out += ["", "## Skips and errors", ""] + _table(
            ["rows", "reason"], [[n, why] for why, n in reasons.most_common()])
    out += ["", "## All measurements", ""] + render_rows(rows)
    return "\n".join(out) + "\n"


def render_headline(report: dict, source: str = "",
                    title: str = "Latest committed GPU report") -> str:
    """The short form for the README / the no-GPU bench: targets + our backends' geomeans."""
    meta, rows = report.get("meta", {}), report.get("rows", [])
    summaries = summarize(rows)
    head = [f"{title}{f' ({source})' if source else ''}: "
            f"commit `{(meta.get('git_commit') or 'unknown')[:12]}` on "
            f"{meta.get('gpu_name')}, {meta.get('date_utc')}.", ""]
    return "\n".join(head + render_targets(rows, summaries) + [""]
                     + render_summary(rows, summaries, backends=("cuda", "triton"))) + "\n"


# ---- the newest committed report ------------------------------------------------------------

def _committed_files(results_dir: Path) -> Optional[set[Path]]:
    """JSON files git tracks under results_dir; None when git cannot tell (not a checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "--", "."], cwd=results_dir,
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return {(results_dir / line).resolve() for line in out.stdout.splitlines()
            if line.endswith(".json")}


def find_latest(results_dir: os.PathLike) -> Optional[tuple[Path, dict]]:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return None
    committed = _committed_files(results_dir)
    best = None
    for p in sorted(results_dir.glob("*.json")):
        if committed is not None and p.resolve() not in committed:
            continue   # a report lying around uncommitted is not evidence yet
        try:
            rep = load(p)
        except (ValueError, json.JSONDecodeError, OSError):
            continue
        stamp = rep.get("meta", {}).get("date_utc") or ""
        if best is None or stamp > best[0]:
            best = (stamp, p, rep)
    return None if best is None else (best[1], best[2])


def render_latest(results_dir: os.PathLike) -> str:
    found = find_latest(results_dir)
    if found is None:
        return NO_REPORT
    path, rep = found
    return render_headline(rep, source=path.name)


def results_name(meta: dict) -> str:
    """Canonical file name for bench/results/: <date>_<gpu>_<commit12>.json."""
    date = (meta.get("date_utc") or "unknown-date")[:10]
    gpu = "".join(c if c.isalnum() else "-" for c in (meta.get("gpu_name") or "nogpu").lower())
    gpu = "-".join(p for p in gpu.split("-") if p and p != "nvidia")
    commit = (meta.get("git_commit") or "nocommit")[:12]
    return f"{date}_{gpu}_{commit}{'-dirty' if meta.get('git_dirty') else ''}.json"


__all__ = ["render_markdown", "render_headline", "render_latest", "find_latest",
           "results_name", "NO_REPORT", "SHAPE_KEYS"]
