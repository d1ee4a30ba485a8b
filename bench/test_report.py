"""Report logic on synthetic rows (CPU only): merge, speedups, geomeans, targets, rendering.

The rows here are test fixtures made up to exercise the arithmetic; they never reach a
report file outside tmp_path.
"""

from __future__ import annotations

import json
import math

import pytest

from convkernels import _peaks
from convkernels.bench import render, report, shapes, suite, summary
from convkernels.bench.runner import result_row
from convkernels.bench.timing import _quantile

META = {"gpu_name": "Test GPU", "git_commit": "a" * 40, "git_dirty": False, "torch": "t",
        "triton": "x", "cudnn": 1, "driver": "d", "date_utc": "2026-01-02T03:04:05+00:00"}


def _case(op="conv2d", layer_index=0, network="resnet50", dtype="fp16", layout="channels_last"):
    cases = [c for c in suite.build_cases(ops=(op,), networks=(network,), batches=(64,),
                                          dtypes=(dtype,), layouts=(layout,), tf32_set=False,
                                          train=False)]
    return cases[layer_index]


def _rows_for(case, ms: dict):
    return [result_row(case, b, "ok", median_ms=v, p20_ms=v, p80_ms=v) if v else
            result_row(case, b, "skipped", "not built") for b, v in ms.items()]


def test_speedups_are_paired_per_case():
    c = _case()
    rows = _rows_for(c, {"cuda": 1.0, "triton": 4.0, "cudnn": 2.0, "compile": 1.0})
    report.derive_speedups(rows)
    by = {r["backend"]: r for r in rows}
    assert by["cuda"]["speedup_vs_cudnn"] == 2.0 and by["cuda"]["speedup_vs_compile"] == 1.0
    assert by["triton"]["speedup_vs_cudnn"] == 0.5
    assert by["cudnn"]["speedup_vs_cudnn"] == 1.0


def test_geomean_and_targets_need_every_layer():
    rows = []
    n = len(shapes.NETWORKS["resnet50"])
    for i in range(n):
        c = _case(op="fused_conv_bn_relu", layer_index=i)
        rows += _rows_for(c, {"cuda": 1.0, "triton": None, "cudnn": 1.5 if i % 2 else 1.2,
                              "compile": 1.1})
    groups = {g.label["backend"]: g for g in summary.summarize(rows)}
    expect = math.exp((sum(math.log(1.5 if i % 2 else 1.2) for i in range(n))) / n)
    assert groups["cuda"].vs_cudnn == pytest.approx(expect)
    assert groups["cuda"].n_cudnn == n and groups["triton"].ok == 0
    res = {(r.target.baseline, r.backend): r for r in summary.evaluate_targets(rows)
           if r.target.select["op"] == "fused_conv_bn_relu"}
    assert res[("cudnn", "cuda")].verdict == ("met" if expect >= 1.3 else "not met")
    assert res[("compile", "cuda")].verdict == "met"
    assert res[("cudnn", "triton")].verdict == "not measured"
    partial = summary.evaluate_targets(rows[4:])   # first layer's rows dropped
    v = [r for r in partial if r.backend == "cuda" and r.target.baseline == "compile"][0]
    assert v.verdict.startswith("incomplete")


def test_write_merges_same_commit_and_replaces_other(tmp_path):
    path = tmp_path / "report.json"
    a, b = _case(layer_index=0), _case(layer_index=1)
    report.write(path, dict(META, run_id="r1"), _rows_for(a, {"cudnn": 1.0, "cuda": 0.5}))
    run2 = dict(META, run_id="r2")
    rep, note, written = report.write(path, run2, _rows_for(b, {"cudnn": 1.0, "cuda": 2.0}))
    assert "merged" in note and len(rep["rows"]) == 4 and len(rep["meta"]["sessions"]) == 2
    # a checkpointing run rewrites its own rows and sessions entry: nothing is duplicated
    rep, _, _ = report.write(path, run2, _rows_for(b, {"cudnn": 1.0, "cuda": 2.0}))
    assert len(rep["rows"]) == 4 and len(rep["meta"]["sessions"]) == 2
    assert {p.suffix for p in written} == {".json", ".md", ".csv"}
    assert json.loads(path.read_text())["schema"] == report.SCHEMA
    other = dict(META, git_commit="b" * 40)
    rep, note, _ = report.write(path, other, _rows_for(b, {"cudnn": 1.0}), formats=("json",))
    assert "replaced" in note and len(rep["rows"]) == 1


def test_csv_and_markdown_render(tmp_path):
    c = _case()
    rows = _rows_for(c, {"cuda": 1.0, "triton": None, "cudnn": 2.0, "compile": None})
    rep, _ = report.merge(None, META, rows)
    csv_text = report.to_csv(rep)
    header = csv_text.splitlines()[0].split(",")
    assert {"N", "K", "median_ms", "gpu_name", "git_commit"} <= set(header)
    assert len(csv_text.splitlines()) == 1 + len(rows)
    md = render.render_markdown(rep)
    assert "## Targets" in md and "Test GPU" in md and "2.00×" in md and "skipped: not built" in md


def test_render_latest_without_reports(tmp_path):
    assert render.render_latest(tmp_path) == render.NO_REPORT
    assert render.render_latest(tmp_path / "missing") == render.NO_REPORT


def test_render_latest_picks_newest(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "_committed_files", lambda d: None)   # not a git checkout
    c = _case()
    for date, commit in (("2026-01-01T00:00:00+00:00", "1" * 40),
                         ("2026-02-01T00:00:00+00:00", "2" * 40)):
        rep, _ = report.merge(None, dict(META, date_utc=date, git_commit=commit),
                              _rows_for(c, {"cudnn": 1.0, "cuda": 1.0}))
        (tmp_path / render.results_name(rep["meta"])).write_text(json.dumps(rep))
    text = render.render_latest(tmp_path)
    assert "`222222222222`" in text and "2026-02-01" in text


def test_results_name():
    assert render.results_name(dict(META, gpu_name="NVIDIA H100 80GB HBM3")) == \
        "2026-01-02_h100-80gb-hbm3_aaaaaaaaaaaa.json"


def test_quantile_matches_torch():
    torch = pytest.importorskip("torch")
    xs = sorted([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    for q in (0.2, 0.5, 0.8):
        assert _quantile(xs, q) == pytest.approx(torch.quantile(torch.tensor(xs), q).item())


def test_cases_run_headline_first_and_ids_are_unique():
    cases = suite.build_cases()
    assert len({c.id for c in cases}) == len(cases)
    first = cases[0]
    assert (first.op, first.N, first.dtype, first.layout) == \
        ("fused_conv_bn_relu", 64, "fp16", "channels_last")
    assert [c.priority for c in cases] == sorted(c.priority for c in cases)


def test_peaks_table():
    assert _peaks.peaks_for("NVIDIA H100 80GB HBM3").hbm_tbps == 3.35
    assert _peaks.peaks_for("NVIDIA H200").hbm_tbps == 4.8
    assert _peaks.peaks_for("NVIDIA A100-SXM4-80GB").fp16_tflops == 312.0
    assert _peaks.peaks_for("NVIDIA H100 PCIe") is None
    assert _peaks.peaks_for("NVIDIA GeForce RTX 4090") is None


def test_gpu_summary_reads_step_trailers(tmp_path):
    from convkernels.bench import gpusummary
    (tmp_path / "build.log").write_text("## convkernels-step name=build rc=0 seconds=42\n")
    (tmp_path / "sanitizer.log").write_text(
        "========= ERROR SUMMARY: 0 errors\n## convkernels-step name=memcheck rc=0 seconds=3\n"
        "## convkernels-step name=racecheck rc=0 seconds=1\n"  # a failed first try...
        "## convkernels-step name=racecheck rc=1 seconds=5\n")  # ...the last run counts
    text = gpusummary.write_summary(tmp_path).read_text()
    assert "| build | ok | 0 | 42 | build.log |" in text
    assert "| racecheck | FAILED | 1 | 5 | sanitizer.log |" in text
    assert "1 of 3 steps failed" in text and "ERROR SUMMARY: 0 errors" in text
