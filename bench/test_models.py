"""Whole-network benchmark rows (convkernels/bench/cases_models.py) on the generic runner."""

from convkernels.bench import cases_models, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_models.cases())


def test_models(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)
