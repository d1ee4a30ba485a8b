"""Whole-network benchmark rows (convkernels/bench/cases_models.py) on the generic runner."""

from pathlib import Path

import pytest

from convkernels.bench import cases_models, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_models.cases())


def test_models(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)


@pytest.mark.bench_timing
@pytest.mark.cuda
def test_models_layer_breakdown(request):
    """Per-layer tables (op, backend, ms, % roofline) for ResNet-50, VGG-16, GoogLeNet and
    DenseNet-121, written beside the report as models_breakdown.md."""
    from convkernels.models.profile import breakdown_markdown
    text = breakdown_markdown()
    path = Path(request.config.getoption("--report")).with_name("models_breakdown.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    assert "| total |" in text
