"""SUMMARY.md for ``make gpu-report``: one page saying what each step did, from its files.

Reads only what the steps left in the output folder (logs, the junit XML, report.json), so
it can be regenerated later from a copied folder. Every number in it is read, not typed.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from . import report as _report

# Step name -> the log it writes (the Makefile's names). Unknown steps use <name>.log.
STEP_LOGS = {"memcheck": "sanitizer.log", "racecheck": "sanitizer.log"}
_RC_MEANING = {0: "ok", 5: "FAILED (no tests collected)", 124: "FAILED (timed out)"}


_TRAILER = re.compile(r"^## convkernels-step name=(\S+) rc=(-?\d+) seconds=(\d+)", re.M)
LOG_ORDER = ("build.log", "cuda-tests.log", "sanitizer.log", "bench.log")


def steps_from_logs(out_dir: Path) -> list[tuple[str, int, float]]:
    """The trailer line each Makefile step appends to its log; a step run again (split runs
    into one folder) reports its last run."""
    logs = [out_dir / n for n in LOG_ORDER] + sorted(
        p for p in out_dir.glob("*.log") if p.name not in LOG_ORDER)
    found: dict[str, tuple[str, int, float]] = {}
    for log in logs:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        for name, rc, secs in _TRAILER.findall(text):
            found[name] = (name, int(rc), float(secs))
            STEP_LOGS.setdefault(name, log.name)
    return list(found.values())


def parse_steps(spec: str) -> list[tuple[str, int, float]]:
    """'build=0:123,cuda-tests=1:45' -> [('build', 0, 123.0), ('cuda-tests', 1, 45.0)]."""
    steps = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, rest = item.partition("=")
        rc, _, secs = rest.partition(":")
        steps.append((name, int(rc or -1), float(secs or 0)))
    return steps


def _tail(path: Path, n: int = 25) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _junit(path: Path) -> list[str]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return [f"- no junit XML at {path.name}"]
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tot = {k: sum(int(s.get(k, 0)) for s in suites)
           for k in ("tests", "failures", "errors", "skipped")}
    out = [f"- {tot['tests']} tests: {tot['failures']} failed, {tot['errors']} errors, "
           f"{tot['skipped']} skipped, "
           f"{tot['tests'] - tot['failures'] - tot['errors'] - tot['skipped']} passed"]
    bad = [f"{c.get('classname')}::{c.get('name')}" for c in root.iter("testcase")
           if c.find("failure") is not None or c.find("error") is not None]
    if tot["tests"] and tot["skipped"] == tot["tests"]:
        out.append("- **every test was skipped: no CUDA test actually ran** (see the log for why)")
    out += [f"  - FAILED {b}" for b in bad[:40]]
    if len(bad) > 40:
        out.append(f"  - ... and {len(bad) - 40} more")
    return out


def _sanitizer(path: Path) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ["- no sanitizer log"]
    found = re.findall(r"^.*(?:ERROR SUMMARY|RACECHECK SUMMARY).*$", text, re.M)
    return [f"- `{line.strip()}`" for line in found] or [
        "- no compute-sanitizer summary line found (see the log)"]


def steps_for(out_dir: Path, steps_spec: str = "") -> list:
    """(name, rc, seconds) per step: ``steps_spec`` if given, else the logs' trailer lines."""
    return parse_steps(steps_spec) if steps_spec else steps_from_logs(out_dir)


def write_summary(out_dir: Path, steps_spec: str = "") -> Path:
    """``steps_spec`` overrides the steps read from the logs' trailer lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = steps_for(out_dir, steps_spec)
    rep = None
    if (out_dir / "report.json").exists():
        try:
            rep = _report.load(out_dir / "report.json")
        except (ValueError, json.JSONDecodeError) as e:
            rep = {"error": str(e)}
    meta = (rep or {}).get("meta", {})
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    lines = ["# GPU report summary", "",
             f"Written {now}. GPU: {meta.get('gpu_name') or 'none recorded'}; commit "
             f"`{(meta.get('git_commit') or 'unknown')[:12]}`"
             + (" (dirty)" if meta.get("git_dirty") else "") + ".", "",
             "| step | result | exit code | seconds | log |", "|---|---|---|---|---|"]
    for name, rc, secs in steps:
        verdict = _RC_MEANING.get(rc, "ok" if rc == 0 else "FAILED")
        lines.append(f"| {name} | {verdict} | {rc} | {secs:.0f} | "
                     f"{STEP_LOGS.get(name, name + '.log')} |")
    failed = [s for s in steps if s[1] != 0]
    if not steps:   # an empty or foreign folder: nothing ran, so nothing passed
        verdict = (f"**No steps found in {out_dir}: no log has a `## convkernels-step` line, "
                   "so nothing is known to have run.**")
    elif failed:
        verdict = f"**{len(failed)} of {len(steps)} steps failed.**"
    else:
        verdict = "**All steps passed.**"
    lines += ["", verdict, ""]
    names = [s[0] for s in steps]
    if "cuda-tests" in names:
        lines += ["## CUDA tests", ""] + _junit(out_dir / "cuda-tests.xml") + [""]
    if "memcheck" in names or "racecheck" in names:
        lines += ["## compute-sanitizer", ""] + _sanitizer(out_dir / "sanitizer.log") + [""]
    if rep and "rows" in rep:
        from .render import render_summary, render_targets
        from .summary import summarize
        rows = rep["rows"]
        counts = {k: sum(r.get("status") == k for r in rows) for k in ("ok", "skipped", "error")}
        lines += ["## Benchmark", "",
                  f"{len(rows)} rows: {counts['ok']} ok, {counts['skipped']} skipped, "
                  f"{counts['error']} error (details: report.md).", ""]
        summaries = summarize(rows)
        lines += render_targets(rows, summaries) + [""]
        lines += render_summary(rows, summaries, backends=("cuda", "triton")) + [""]
    elif rep:
        lines += ["## Benchmark", "", f"report.json unreadable: {rep.get('error')}", ""]
    elif "bench" in names:
        lines += ["## Benchmark", "", "No report.json: the bench measured nothing (see the tail "
                  "of bench.log; without a GPU the timing tests skip).", ""]
    for name, rc, _ in failed:
        log = out_dir / STEP_LOGS.get(name, name + ".log")
        lines += [f"## Tail of {log.name} ({name}, exit {rc})", "", "```", _tail(log), "```", ""]
    path = out_dir / "SUMMARY.md"
    path.write_text("\n".join(lines) + "\n")
    return path
