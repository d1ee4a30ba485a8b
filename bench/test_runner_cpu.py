"""The GPU runner's logic, exercised on the CPU (no timing: ``measure`` is replaced).

Runs ``runner.run_case`` with ``device="cpu"`` on a tiny conv: the cuDNN role is played by
eager PyTorch on the CPU, the checks against it and the float64 re-check are the real ones,
and a backend rigged to return a wrong result must give an "error" row and no timing.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from convkernels.bench import runner  # noqa: E402
from convkernels.bench.shapes import ConvShape  # noqa: E402
from convkernels.bench.suite import Case  # noqa: E402
from convkernels.bench.timing import Timing  # noqa: E402

TINY = ConvShape("resnet50", "tiny", C=8, H=6, W=6, K=8, R=3, S=3, stride=1, padding=1)


def _ctx(backends=("cuda", "cudnn", "triton")):
    ctx = runner.Context(backends=backends, device="cpu", budget_s=None, log=lambda s: None)
    ctx.peaks = None   # the same on a GPU machine: CPU timings are not judged against its peak
    return ctx


@pytest.fixture(autouse=True)
def fake_timing(monkeypatch):
    calls = []

    def measure(fn, config=None):
        fn()
        calls.append(fn)
        return Timing(1.0 + 0.5 * len(calls), 1.0, 2.0, "fake")
    monkeypatch.setattr(runner, "measure", measure)
    return calls


def _case(op="fused_conv_bn_relu", mode="eval", dtype="fp32", compile_mode=""):
    return Case(op, mode, TINY, 2, dtype, False, "channels_last", compile_mode, 0)


@pytest.mark.parametrize("op,mode", [("conv2d", "eval"), ("fused_conv_bn_relu", "eval"),
                                     ("fused_conv_bn_relu", "train")])
def test_rows_for_every_backend(op, mode):
    rows = {r["backend"]: r for r in runner.run_case(_case(op, mode), _ctx())}
    assert set(rows) == {"cuda", "cudnn", "triton"}
    assert rows["cudnn"]["status"] == "ok" and rows["cudnn"]["speedup_vs_cudnn"] == 1.0
    assert rows["cudnn"]["tflops"] > 0 and rows["cudnn"]["pct_peak"] is None   # no GPU peak
    # No extension on this machine: a skip with the package's own reason, not an error.
    assert rows["cuda"]["status"] == "skipped" and rows["cuda"]["reason"]
    assert rows["cudnn"]["shape"]["N"] == 2 and rows["cudnn"]["op"] == op


def test_wrong_result_is_an_error_and_not_timed(monkeypatch, fake_timing):
    real = runner._ours

    def rigged(case, conv, bn, backend):
        f = real(case, conv, bn, "torch")
        return (lambda x: f(x) * 1.01) if backend == "triton" else f
    monkeypatch.setattr(runner, "_ours", rigged)
    rows = {r["backend"]: r for r in runner.run_case(_case(), _ctx(("cudnn", "triton")))}
    assert rows["triton"]["status"] == "error"
    assert "wrong result" in rows["triton"]["reason"] and rows["triton"]["median_ms"] is None
    assert len(fake_timing) == 1            # only cudnn was timed


def test_rounding_level_differences_pass(monkeypatch):
    real = runner._ours

    def ours_via_torch(case, conv, bn, backend):
        return real(case, conv, bn, "torch")
    monkeypatch.setattr(runner, "_ours", ours_via_torch)
    rows = {r["backend"]: r for r in runner.run_case(_case(dtype="fp16"),
                                                     _ctx(("cudnn", "triton")))}
    assert rows["triton"]["status"] == "ok" and rows["triton"]["max_err"] < 1e-2


def test_budget_exhausted_gives_skip_rows():
    ctx = _ctx()
    ctx.budget_s = 0.0
    rows = runner.run_case(_case(), ctx)
    assert all(r["status"] == "skipped" and "budget" in r["reason"] for r in rows)


@pytest.mark.slow
def test_torch_compile_baseline_on_cpu():
    rows = {r["backend"]: r for r in runner.run_case(_case(compile_mode="default"),
                                                     _ctx(("cudnn", "compile")))}
    r = rows["compile"]
    # A CPU without a working C++ toolchain cannot compile: then a skip row says why.
    assert r["status"] in ("ok", "skipped"), r["reason"]
    if r["status"] == "ok":
        assert r["compile_mode"] == "default" and r["compile_s"] > 0
        assert r["speedup_vs_cudnn"] is not None


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_float64_recheck(monkeypatch, mode):
    """Force the quick tolerance to zero so every comparison goes through the float64 rule."""
    for table in ("_TOL", "_TRAIN_TOL"):
        monkeypatch.setattr(runner, table, {k: 0.0 for k in getattr(runner, table)})
    real = runner._ours

    def rigged(case, conv, bn, backend):
        f = real(case, conv, bn, "torch")
        return (lambda x: f(x) * 1.05) if backend == "triton" else f
    monkeypatch.setattr(runner, "_ours", rigged)
    rows = {r["backend"]: r for r in runner.run_case(_case(mode=mode, dtype="fp16"),
                                                     _ctx(("cudnn", "triton")))}
    assert rows["triton"]["status"] == "error" and "float64" in rows["triton"]["reason"]
    # the same computation as the reference passes the float64 rule
    monkeypatch.setattr(runner, "_ours", lambda case, conv, bn, b: real(case, conv, bn, "torch"))
    good = {r["backend"]: r for r in runner.run_case(_case(mode=mode, dtype="fp16"),
                                                     _ctx(("cudnn", "triton")))}
    assert good["triton"]["status"] == "ok"
