"""GPU benchmark rows of the lrn family: see convkernels/bench/cases_lrn.py."""

from convkernels.bench import cases_lrn, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_lrn.cases())


def test_lrn(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)
