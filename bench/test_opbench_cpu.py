"""The generic op-bench runner, exercised on the CPU (timing replaced, checks real).

1. A tiny synthetic case: every backend row, the float64 re-check, a rigged wrong backend
   that must give an "error" row and no timing, integer outputs compared exactly.
2. Every family's ``cases()`` list (convkernels/bench/cases_*.py): ids unique, each case
   buildable, and, for a few cases per family rebuilt at batch 1 in float32, the baseline
   and ``ours("torch")`` (the reference backend) agree: the rows a GPU run will produce are
   well-formed before a GPU ever sees them.
"""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from convkernels.bench import opbench, report, session  # noqa: E402
from convkernels.bench.runner import Context  # noqa: E402
from convkernels.bench.timing import Timing  # noqa: E402


@pytest.fixture(autouse=True)
def fake_timing(monkeypatch):
    calls = []

    def measure(fn, config=None):
        fn()
        calls.append(fn)
        # 1.5 ms, 1.0 ms, 1.5 ms, ...: a baseline timed first looks 1.5x slower; never 0
        return Timing(1.5 if len(calls) % 2 else 1.0, 1.0, 2.0, "fake")
    monkeypatch.setattr(opbench, "measure", measure)
    return calls


def _ctx(backends=("cuda", "triton", "cudnn")):
    ctx = Context(backends=backends, device="cpu", budget_s=None, log=lambda s: None)
    ctx.peaks = None
    return ctx


def _pool_build(wrong_backend=None):
    def build(case, device):
        g = case.generator(device)
        x = torch.randn(case.N, 4, 9, 9, generator=g, device=device, dtype=case.torch_dtype())
        x = x.contiguous(memory_format=case.memory_format()).requires_grad_(case.mode != "fwd")

        def eager(t):
            return F.max_pool2d(t, 3, 2, return_indices=True)

        def ours(backend):
            if backend == "cuda":
                raise RuntimeError("not built on this machine")
            if backend == wrong_backend:
                return lambda t: (F.max_pool2d(t, 3, 2) * 1.01, F.max_pool2d(
                    t, 3, 2, return_indices=True)[1])
            return eager
        return opbench.Workload((x,), eager, ours, min_bytes=x.numel() * x.element_size())
    return build


def _case(mode="fwd", dtype="fp32", build=None):
    return opbench.OpCase("pool", "max_pool2d", mode, "tiny", "pool1", {"N": 2, "C": 4},
                          dtype, "channels_last", 0, build or _pool_build(),
                          compile_baseline=False, variant="indices")


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
def test_rows_for_every_backend(mode, fake_timing):
    rows = {r["backend"]: r for r in opbench.run_case(_case(mode), _ctx())}
    assert set(rows) == {"cuda", "triton", "cudnn"}
    assert rows["cudnn"]["status"] == "ok" and rows["cudnn"]["speedup_vs_cudnn"] == 1.0
    assert rows["triton"]["status"] == "ok" and rows["triton"]["max_err"] == 0.0
    assert rows["triton"]["speedup_vs_cudnn"] == pytest.approx(1.5 / 1.0)
    assert rows["cudnn"]["gbps"] > 0 and rows["cudnn"]["pct_hbm"] is None   # no GPU peak
    assert rows["cudnn"]["tflops"] is None   # memory-bound: no FLOP count given
    assert rows["cuda"]["status"] == "skipped" and "not built" in rows["cuda"]["reason"]
    assert rows["cudnn"]["op"] == "max_pool2d[indices]" and rows["cudnn"]["shape"]["N"] == 2
    assert len(fake_timing) == 2   # cudnn and triton timed; cuda not


def test_wrong_result_is_an_error_and_not_timed(fake_timing):
    rows = {r["backend"]: r for r in opbench.run_case(
        _case(build=_pool_build(wrong_backend="triton")), _ctx())}
    assert rows["triton"]["status"] == "error"
    assert "float64" in rows["triton"]["reason"] and rows["triton"]["median_ms"] is None
    assert len(fake_timing) == 1


def test_integer_outputs_must_match_exactly():
    ref = (torch.ones(3), torch.tensor([1, 2, 3]))
    outs = (torch.ones(3), torch.tensor([1, 2, 4]))
    case = _case()
    ok, err, note = opbench.check(case, outs, ref, None, {}, {"ref64": ref})
    assert not ok and "integer" in note


def test_wrong_shape_is_reported():
    ok, err, note = opbench.check(_case(), (torch.ones(2),), (torch.ones(3),), None, {}, {})
    assert not ok and "shapes" in note


def test_rows_fit_the_report_schema_and_resume_key():
    case = _case()
    rows = opbench.run_case(case, _ctx(("cudnn",)))
    assert set(rows[0]) == set(report.ROW_FIELDS)
    assert session.case_key(case) == report.case_key(rows[0])


def test_ids_and_marks():
    case = _case("fwd+bwd", "bf16")
    assert case.id == "max_pool2d[indices]-fwd+bwd-tiny-pool1-b2-bf16-channels_last"
    assert {"headline", "train", "bf16", "bench_timing", "cuda"} <= set(opbench.marks(case))


# ---- every family's case list ------------------------------------------------------------

FAMILIES = opbench.family_modules()
_PER_FAMILY = 4   # baseline-vs-reference checks per family (CPU time)


def _size(case) -> float:
    n = 1.0
    for v in case.params.values():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            n *= max(float(v), 1.0)
    return n


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_cases_are_well_formed(family):
    cases = FAMILIES[family].cases()
    assert cases, f"cases_{family}.cases() is empty"
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert all(c.build is not None and "N" in c.params for c in cases)
    assert all(c.mode in ("fwd", "fwd+bwd") and c.dtype in ("fp32", "fp16", "bf16")
               for c in cases)
    assert min(c.priority for c in cases) == 0, "priority 0 = the headline target configs"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_baseline_matches_reference_backend(family):
    chosen = {}
    for c in sorted(FAMILIES[family].cases(), key=_size):
        chosen.setdefault((c.op, c.variant, c.mode), c)
    for case in list(chosen.values())[:_PER_FAMILY]:
        small = dataclasses.replace(case, params={**case.params, "N": 1}, dtype="fp32",
                                    compile_baseline=False)
        rows = {r["backend"]: r for r in opbench.run_case(small, _ctx(("cudnn", "torch")))}
        assert rows["cudnn"]["status"] == "ok", rows["cudnn"]["reason"]
        assert rows["torch"]["status"] == "ok", (case.id, rows["torch"]["reason"])


def test_progress_prefix_counts_and_estimates():
    from convkernels.bench.runner import progress_prefix
    assert progress_prefix(5, 100, 50.0) == "[  5/100   5% 50s, ~16m left]"
    assert progress_prefix(10, 10, 12.0) == "[10/10 100% 12s, ~0s left]"


def test_cli_bench_suite_selection(capsys):
    import argparse

    from convkernels import cli
    args = cli.build_parser().parse_args(["bench", "--suite", "conv_ops", "--network",
                                          "resnet50", "--quick"])
    cases = cli._cases(args)
    assert cases and all(c.shape.network == "resnet50" for c in cases)
    with pytest.raises(SystemExit, match="unknown suite"):
        cli._cases(argparse.Namespace(**{**vars(args), "suite": ["nope"]}))
    assert cli.main(["bench", "--list-suites"]) == 0
    assert "conv_ops" in capsys.readouterr().out


def test_op_tour_passes_on_this_machine():
    """The no-GPU main job's tour of every op family: every backend that can run here passes
    (triton under TRITON_INTERPRET=1, set by tests/conftest.py for CPU runs)."""
    from convkernels.bench.optour import op_tour
    lines = []
    results = op_tour(dtypes=("fp32",), log=lines.append)
    ran = [r for r in results if r["status"] != "unavailable"]
    assert len({r["op"] for r in ran}) == len({r["op"] for r in results}) >= 12
    bad = [(r["op"], r["backend"], r["note"]) for r in ran if r["status"] != "ok"]
    assert not bad, bad
    assert lines[0].split()[:2] == ["op", "backend"]
