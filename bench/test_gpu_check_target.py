"""``make gpu-check`` orchestration on the CPU, with every step faked: each step runs even after
one fails, each log gets its start and end lines, the summary is written, and the target fails
when any step did. (The real steps need a GPU; this checks the plumbing that must survive a cut.)
"""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _make(out: Path, **steps: str) -> subprocess.CompletedProcess:
    overrides = [f"{k}={v}" for k, v in steps.items()]
    return subprocess.run(["make", "--no-print-directory", "gpu-check", f"OUT={out}",
                           f"PYTHON={sys.executable}", *overrides], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("failing", [None, "CK_BENCH"])
def test_gpu_check_runs_every_step_and_summarizes(tmp_path, failing):
    steps = {"CK_BUILD": "echo fake build", "CK_TESTS": "echo 3 passed",
             "CK_SANITIZER": "true", "CK_SANITIZER_TESTS": "", "CK_RACECHECK_SELECT": "",
             "CK_BENCH": "echo fake bench"}
    if failing:
        steps[failing] = "false"
    done = _make(tmp_path, **steps)
    assert (done.returncode != 0) == bool(failing), done.stdout + done.stderr
    expected_failures = 1 if failing else 0
    assert f"gpu-check: {expected_failures} step(s) failed" in done.stdout
    for log, step in (("build.log", "build"), ("cuda-tests.log", "cuda-tests"),
                      ("sanitizer.log", "memcheck"), ("sanitizer.log", "racecheck"),
                      ("bench.log", "bench")):
        text = (tmp_path / log).read_text()
        assert f"## convkernels-step-start name={step} " in text, log
        rc = 1 if (failing == "CK_BENCH" and step == "bench") else 0
        assert f"## convkernels-step name={step} rc={rc} " in text, (log, text)
    summary = (tmp_path / "SUMMARY.md").read_text()
    assert "| build | ok | 0 |" in summary
    if failing:
        assert "| bench | FAILED | 1 |" in summary and "1 of 5 steps failed" in summary
    else:
        assert "All steps passed." in summary
