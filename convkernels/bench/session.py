"""One benchmark run: the report's meta, and running a list of cases into a report file.

Shared by bench/conftest.py (``pytest bench/``: one test per case) and the CLI
(``python -m convkernels bench``: a plain loop), so both write identical reports.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable, Optional

from . import device, report
from .runner import Context, progress_line, run_case
from .suite import Case

DEFAULT_BUDGET_S = 420.0   # no case starts after this: the step must end inside a 10-min command
DEFAULT_AUTOTUNE_BUDGET_S = 180.0


def env_float(name: str, default: Optional[float]) -> Optional[float]:
    """Budgets from the environment; "0" or "none" means unlimited."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("0", "none", "inf", "unlimited"):
        return None
    return float(raw)


def make_context(quick: bool = False, log=print, budget_s="default") -> Context:
    """``budget_s``: seconds, None for unlimited, or "default" (env CONVKERNELS_BENCH_BUDGET_S,
    else DEFAULT_BUDGET_S). The max-autotune budget comes from
    CONVKERNELS_BENCH_AUTOTUNE_BUDGET_S (default DEFAULT_AUTOTUNE_BUDGET_S)."""
    from .timing import TimingConfig
    budget = (env_float("CONVKERNELS_BENCH_BUDGET_S", DEFAULT_BUDGET_S)
              if budget_s == "default" else budget_s)
    autotune = env_float("CONVKERNELS_BENCH_AUTOTUNE_BUDGET_S", DEFAULT_AUTOTUNE_BUDGET_S)
    return Context(timing=TimingConfig.quick() if quick else TimingConfig(), budget_s=budget,
                   autotune_budget_s=float("inf") if autotune is None else autotune, log=log)


def meta(ctx: Context, selection: str) -> dict:
    if ctx.env is None:
        ctx.env = device.capture()
    m = dict(ctx.env)
    budget = "unlimited" if ctx.budget_s is None else f"{ctx.budget_s:.0f} s"
    m.update(
        cudnn_benchmark=True,
        tf32_off_setting=("torch.backends.cudnn.allow_tf32=False, "
                          "torch.backends.cuda.matmul.allow_tf32=False, "
                          "float32_matmul_precision='highest'"),
        tf32_on_setting=("torch.backends.cudnn.allow_tf32=True, "
                         "torch.backends.cuda.matmul.allow_tf32=True, "
                         "float32_matmul_precision='high'"),
        timing=(f"CUDA events via {', '.join(sorted(ctx.methods)) or 'not run'}; warm-up "
                f"{ctx.timing.warmup_ms:g} ms, {ctx.timing.rep_ms:g} ms of reps, 256 MB L2 flush "
                f"before each rep, median and p20/p80; at most {ctx.timing.max_total_s:g} s per "
                f"measurement; suite budget {budget}; max-autotune compile budget "
                f"{ctx.autotune_budget_s:g} s"),
        selection=selection,
        run_id=ctx.run_id,
        elapsed_s=round(ctx.elapsed(), 1),
    )
    return m


_UNFINISHED = ("suite time budget", "CUDA context unusable", "not run:")


def finished_cases(path: os.PathLike, env: dict) -> set[tuple]:
    """Case keys the report at ``path`` already holds a result for (every backend measured,
    failed or skipped for a reason of its own, not for lack of time). Empty when the report
    was measured on another commit, GPU or software stack: those rows will be replaced."""
    try:
        old = report.load(path)
    except (OSError, ValueError):
        return set()
    if not report.compatible(old.get("meta", {}), env):
        return set()
    by_case: dict[tuple, list[dict]] = {}
    for r in old.get("rows", []):
        by_case.setdefault(report.case_key(r), []).append(r)
    return {k for k, rows in by_case.items()
            if not any(str(r.get("reason") or "").startswith(_UNFINISHED) for r in rows)}


def case_key(case) -> tuple:
    """The report key of a conv-suite ``Case`` or an ``opbench.OpCase``."""
    from . import opbench, runner
    row = opbench.result_row if isinstance(case, opbench.OpCase) else runner.result_row
    return report.case_key(row(case, "cudnn", "skipped"))


class ReportWriter:
    """Collects a run's rows and merges them into the report file: at the end, and every
    ``every_s`` seconds on the way (JSON only) so a run killed by a time limit still leaves
    its measurements behind. Re-writing is idempotent: rows are keyed, the run has one
    sessions entry."""

    def __init__(self, ctx: Context, path: os.PathLike, selection: str,
                 formats=("json", "md", "csv"), every_s: float = 30.0):
        self.ctx, self.path, self.selection = ctx, Path(path), selection
        self.formats, self.every_s = tuple(formats), every_s
        self.rows: list[dict] = []
        self._last = time.monotonic()

    def add(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        if "json" in self.formats and time.monotonic() - self._last > self.every_s:
            self.write(final=False)

    def write(self, final: bool = True) -> tuple[dict, str, list[Path]]:
        self._last = time.monotonic()
        formats = self.formats if final else ("json",)
        return report.write(self.path, meta(self.ctx, self.selection), self.rows, formats)


def run_cases(cases: Iterable[Case], ctx: Context, report_path: os.PathLike,
              selection: str, formats=("json", "md", "csv")) -> tuple[dict, list[Path]]:
    cases = list(cases)
    ctx.total = len(cases)
    writer = ReportWriter(ctx, report_path, selection, formats)
    from . import opbench
    for case in cases:
        family = isinstance(case, opbench.OpCase)
        case_rows = (opbench.run_case if family else run_case)(case, ctx)
        writer.add(case_rows)
        ctx.done += 1
        ctx.log(progress_line(ctx.done, ctx.total, case, case_rows, ctx.elapsed()))
    rep, note, written = writer.write()
    ctx.log(f"report: {note}; wrote {', '.join(str(p) for p in written)}")
    return rep, written
