"""GPU benchmark rows of the pool family: see convkernels/bench/cases_pool.py."""

from convkernels.bench import cases_pool, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_pool.cases())


def test_pool(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)
