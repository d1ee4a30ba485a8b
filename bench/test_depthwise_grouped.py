"""GPU timing rows of grouped convolution (AlexNet two-tower, ResNeXt-50 32x4d)."""

from convkernels.bench import cases_depthwise_grouped, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_depthwise_grouped.cases())


def test_depthwise_grouped(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)
