"""GPU benchmark rows of resize_conv (convkernels/bench/cases_resize_conv.py)."""

from convkernels.bench import cases_resize_conv, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_resize_conv.cases())


def test_resize_conv(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)
