"""Timing of conv2d and fused_conv_bn_relu on the real ResNet-50 / VGG-16 layer shapes.

One test per case (op x mode x layer x batch x dtype x layout); each measures every backend
(cuda, triton, cudnn, compile) and appends its rows to the session report. A backend that
gives a wrong result fails the test (its row says by how much); one that cannot run the
configuration is a "skipped" row and does not. Case ids read like
``fused_conv_bn_relu-eval-resnet50-layer1.0.conv2-b64-fp16-channels_last``; select with -k,
or with markers (headline, conv2d, fused, train, tf32, resnet50, vgg16, fp16, fp32, ...).
"""

from __future__ import annotations

import pytest

from convkernels.bench import runner, suite


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    cases = suite.build_cases(quick=metafunc.config.getoption("--bench-quick"))
    params = [pytest.param(c, id=c.id, marks=[getattr(pytest.mark, m) for m in c.marks]
                           + [pytest.mark.bench_timing, pytest.mark.cuda]) for c in cases]
    metafunc.parametrize("case", params)


def test_conv_ops(case, bench_ctx, bench_rows):
    rows = runner.run_case(case, bench_ctx)
    bench_rows.add(rows)   # merged into the report at session end (and every 30 s)
    bench_ctx.done += 1
    bench_ctx.log(runner.progress_line(bench_ctx.done, bench_ctx.total, case, rows,
                                       bench_ctx.elapsed()))
    errors = [f"{r['backend']}: {r['reason']}" for r in rows if r["status"] == "error"]
    if errors:
        pytest.fail(f"{case.id}: " + "; ".join(errors), pytrace=False)
    if all(r["status"] == "skipped" for r in rows):
        pytest.skip(rows[0]["reason"])
