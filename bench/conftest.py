"""pytest plumbing for ``pytest bench/``.

* Without a CUDA GPU the timing tests are skipped, with the reason printed in the header and
  the skip summary; the CPU tests in this folder (shapes, report logic) still run.
* With a GPU every timing test appends its rows; at session end the rows are merged into the
  JSON report (``--report PATH``, env ``CONVKERNELS_REPORT``, default bench/out/report.json)
  with the .md and .csv beside it (``--report-formats``).
* Options: ``--bench-quick`` (headline configuration only, shorter timing), ``--bench-budget S``
  (suite time budget; 0 = unlimited; env CONVKERNELS_BENCH_BUDGET_S), ``--bench-resume`` (skip
  cases the report already holds: repeat the command until the matrix is complete). Select
  subsets with ``-k`` on the case ids or ``-m`` on the markers registered below.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MARKERS = {
    "bench_timing": "a GPU timing case (skipped without a CUDA GPU)",
    "headline": "the headline configurations, the performance targets (run first)",
    "conv2d": "conv2d direct", "fused": "fused_conv_bn_relu",
    "eval": "forward only", "train": "forward + backward, training-mode BN",
    "resnet50": "ResNet-50 layers", "vgg16": "VGG-16 layers",
    "fp16": "float16", "fp32": "float32", "tf32": "fp32 with TF32 allowed",
    "channels_last": "channels_last tensors", "nchw": "contiguous NCHW tensors",
    "cuda": "needs a CUDA GPU",
    "opbench": "a row of an op family or network suite (convkernels/bench/cases_*.py)",
    "bf16": "bfloat16",
}


def pytest_addoption(parser):
    g = parser.getgroup("convkernels bench")
    g.addoption("--report", default=os.environ.get("CONVKERNELS_REPORT")
                or str(REPO_ROOT / "bench" / "out" / "report.json"),
                help="JSON report path (rows merge into it); .md/.csv are written beside it")
    g.addoption("--report-formats", default="json,md,csv",
                help="comma list of json, md, csv (make gpu-report keeps its folder to 8 files)")
    g.addoption("--bench-quick", action="store_true",
                help="ResNet-50 fp16 channels_last batch 64 only, shorter timing")
    g.addoption("--bench-resume", action="store_true",
                help="skip cases the --report file already has results for (same commit, GPU "
                     "and software), so back-to-back runs complete the matrix")
    g.addoption("--bench-budget", type=float, default=None,
                help="suite time budget in seconds (default 450 or CONVKERNELS_BENCH_BUDGET_S; "
                     "0 = unlimited)")


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config._ck_writer = None
    config._ck_ctx = None
    config._ck_note = None
    config._ck_total = 0


def gpu_state() -> tuple[bool, str]:
    try:
        import torch
    except Exception as e:
        return False, f"torch is not importable: {e}"
    if not torch.cuda.is_available():
        build = "CPU-only build" if torch.version.cuda is None else "no device visible"
        return False, f"no CUDA GPU (torch {torch.__version__}, {build})"
    return True, torch.cuda.get_device_name(0)


def pytest_report_header(config):
    ok, what = gpu_state()
    if ok:
        return [f"convkernels bench: GPU {what}; report -> {config.getoption('--report')}"]
    return [f"convkernels bench: {what}: the timing tests are skipped (CPU tests still run). "
            "Without a GPU, `python -m convkernels bench` runs the correctness tour instead."]


def pytest_collection_modifyitems(config, items):
    ok, what = gpu_state()
    if not ok:
        skip = pytest.mark.skip(reason=f"{what}: benchmarks need a CUDA GPU")
        for item in items:
            if item.get_closest_marker("bench_timing"):
                item.add_marker(skip)

    def case_of(item):
        return getattr(getattr(item, "callspec", None), "params", {}).get("case")
    # Highest-priority cases first, whatever order the modules were collected in.
    items.sort(key=lambda item: getattr(case_of(item), "priority", -1))
    if ok and config.getoption("--bench-resume"):
        from convkernels.bench import device, session
        config._ck_env = device.capture()
        done = session.finished_cases(config.getoption("--report"), config._ck_env)
        finished = {id(i) for i in items if case_of(i) and session.case_key(case_of(i)) in done}
        if finished:
            config.hook.pytest_deselected(items=[i for i in items if id(i) in finished])
            items[:] = [i for i in items if id(i) not in finished]


def pytest_collection_finish(session):
    # After -k / -m deselection: the count the progress lines show.
    session.config._ck_total = sum(1 for i in session.items
                                   if i.get_closest_marker("bench_timing"))


@pytest.fixture(scope="session")
def bench_ctx(request):
    from convkernels.bench import session
    config = request.config
    if config._ck_ctx is None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")

        def log(line):   # progress goes to the terminal even while pytest captures output
            if reporter is None or capture is None:
                print(line, flush=True)
                return
            with capture.global_and_fixture_disabled():
                reporter.ensure_newline()
                reporter.write_line(line)
        budget = config.getoption("--bench-budget")
        ctx = session.make_context(quick=config.getoption("--bench-quick"), log=log,
                                   budget_s="default" if budget is None else (budget or None))
        ctx.total = config._ck_total
        ctx.env = getattr(config, "_ck_env", None)   # captured once (at collection if resuming)
        args = " ".join(str(a) for a in config.invocation_params.args)
        formats = [f.strip() for f in config.getoption("--report-formats").split(",")
                   if f.strip()]
        config._ck_writer = session.ReportWriter(ctx, config.getoption("--report"),
                                                 f"pytest {args}", formats)
        config._ck_ctx = ctx
    return config._ck_ctx


@pytest.fixture
def bench_rows(request, bench_ctx):
    """The run's report writer: ``bench_rows.add(rows)``."""
    return request.config._ck_writer


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    writer = getattr(config, "_ck_writer", None)
    if writer is None or not writer.rows:
        return
    try:
        _, note, written = writer.write(final=True)
        config._ck_note = f"{note}; wrote {', '.join(str(p) for p in written)}"
    except Exception as e:   # never lose the run silently: say why in the summary
        config._ck_note = f"FAILED to write the report: {type(e).__name__}: {e}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config._ck_note:
        terminalreporter.write_sep("-", "convkernels bench report")
        terminalreporter.write_line(config._ck_note)
    elif not gpu_state()[0]:
        terminalreporter.write_line(f"convkernels bench: {gpu_state()[1]}: no report written.")
