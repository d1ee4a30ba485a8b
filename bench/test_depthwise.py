"""GPU timing rows of depthwise and separable convolution (MobileNet, Xception)."""

from convkernels.bench import cases_depthwise, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_depthwise.cases())


def test_depthwise(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)
