"""Winograd bench rows: every stride-1 3x3 layer of VGG-16 and ResNet-50 at batch
64, fp32 (TF32 off) NCHW and fp16 channels_last, algos direct / winograd_2x2 / winograd_4x4 /
auto against cuDNN. Cases: convkernels/bench/cases_winograd.py."""

from convkernels.bench import cases_winograd, opbench


def pytest_generate_tests(metafunc):
    opbench.parametrize(metafunc, cases_winograd.cases())


def test_winograd(case, bench_ctx, bench_rows):
    opbench.run_and_record(case, bench_ctx, bench_rows)
