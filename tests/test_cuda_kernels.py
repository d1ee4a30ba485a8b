"""GPU-only checks of the CUDA and Triton kernels (marker ``cuda``; skipped without a GPU).

The compute-sanitizer subset is tests/test_sanitizer_families.py (one call per CUDA family).
"""

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import _library, ops
from harness import SMALL_CASES, ConvCase, assert_within_rule, error_vs_reference

pytestmark = pytest.mark.cuda
KERNEL_BACKENDS = ["cuda", "triton"]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _skip_unavailable(backend):
    if backend == "cuda" and not convkernels._extension.load()[0]:
        pytest.skip(convkernels._extension.load()[1])


@pytest.mark.parametrize("backend", KERNEL_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("case", [ConvCase("tc-aligned", 2, 16, 9, 9, 24, 3, 3, padding=1),
                                  SMALL_CASES[2], SMALL_CASES[6]], ids=lambda c: c.name)
def test_fused_primitives_small(backend, dtype, layout, case):
    _skip_unavailable(backend)
    x, w, b = case.tensors(dtype, "cuda")
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    scale = torch.rand(case.K, device="cuda") + 0.5
    out_shape = F.conv2d(x, w, **case.kwargs()).shape
    res = torch.randn(out_shape, device="cuda", dtype=dtype)
    ours = ops.conv2d_affine(x, w, scale, b.float(), **case.kwargs(), relu=True, residual=res,
                             backend=backend)
    raw64 = F.conv2d(x.double(), w.double(), **case.kwargs())
    ref = (raw64 * scale.double().view(1, -1, 1, 1) + b.double().view(1, -1, 1, 1)
           + res.double()).relu()
    same = (F.conv2d(x, w, **case.kwargs()).float() * scale.view(1, -1, 1, 1)
            + b.float().view(1, -1, 1, 1) + res.float()).relu().to(dtype)
    assert_within_rule(ours, same, ref, what=f"{backend}/{dtype}/{layout}")
    mean, var = _library.op(backend, "channel_moments")(ours)
    v64, m64 = torch.var_mean(ours.double(), dim=(0, 2, 3), correction=0)
    torch.testing.assert_close(mean.double(), m64, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(var.double(), v64, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", KERNEL_BACKENDS)
def test_channel_moments_is_stable_for_large_means(backend):
    _skip_unavailable(backend)
    x = 1e4 + torch.randn(8, 32, 17, 17, device="cuda")
    mean, var = _library.op(backend, "channel_moments")(x)
    v64, m64 = torch.var_mean(x.double(), dim=(0, 2, 3), correction=0)
    torch.testing.assert_close(var.double(), v64, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("backend", KERNEL_BACKENDS)
def test_non_default_stream_and_cuda_graph(backend):
    _skip_unavailable(backend)
    case = ConvCase("g", 4, 32, 14, 14, 64, 3, 3, padding=1)
    x, w, b = case.tensors(torch.float16, "cuda")
    x = x.contiguous(memory_format=torch.channels_last)
    eager = ops.conv2d(x, w, b, padding=1, backend=backend)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        on_stream = ops.conv2d(x, w, b, padding=1, backend=backend)
    torch.cuda.current_stream().wait_stream(s)
    torch.testing.assert_close(on_stream, eager, atol=0, rtol=0)
    with torch.cuda.stream(s):  # warm-up outside capture (autotuning, lazy init)
        ops.conv2d(x, w, b, padding=1, backend=backend)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = ops.conv2d(x, w, b, padding=1, backend=backend)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(captured, eager, atol=0, rtol=0)


@pytest.mark.parametrize("backend", KERNEL_BACKENDS)
@pytest.mark.slow  # 10-50 s each on the H200 (Triton compile): out of make gpu-check
def test_offsets_beyond_int32(backend):
    """An input with more than 2^31 elements (4.3 GB in fp16): int64 offsets or a refusal."""
    _skip_unavailable(backend)
    free, _ = torch.cuda.mem_get_info()
    if free < 12 * 2**30:
        pytest.skip("needs ~12 GiB of free GPU memory")
    x = torch.randn(1, 8, 2**14 + 8, 2**14 + 8, device="cuda", dtype=torch.float16)
    w = torch.randn(8, 8, 3, 3, device="cuda", dtype=torch.float16) / 8
    ours = ops.conv2d(x.contiguous(memory_format=torch.channels_last), w, padding=1,
                      backend=backend)
    tail = (slice(None), slice(None), slice(-64, None), slice(-64, None))
    ref = F.conv2d(x[:, :, -66:, -66:], w, padding=1)[:, :, -64:, -64:]
    torch.testing.assert_close(ours[tail], ref, atol=2e-2, rtol=2e-2)


def test_tf32_follows_the_cudnn_flag():
    """fp32 with C % 4 == 0 runs on TF32 tensor cores exactly when cuDNN convolutions may."""
    _skip_unavailable("cuda")
    case = ConvCase("tf32", 2, 64, 28, 28, 64, 3, 3, padding=1)
    x, w, b = case.tensors(torch.float32, "cuda")
    x = x.contiguous(memory_format=torch.channels_last)
    ref = F.conv2d(x.double(), w.double(), b.double(), **case.kwargs())
    saved = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = False
        off = ops.conv2d(x, w, b, **case.kwargs(), backend="cuda")
        assert_within_rule(off, F.conv2d(x, w, b, **case.kwargs()), ref, what="TF32 off")
        torch.backends.cudnn.allow_tf32 = True
        on = ops.conv2d(x, w, b, **case.kwargs(), backend="cuda")
        cudnn_err = error_vs_reference(F.conv2d(x, w, b, **case.kwargs()), ref)
    finally:
        torch.backends.cudnn.allow_tf32 = saved
    on_err, off_err = error_vs_reference(on, ref), error_vs_reference(off, ref)
    assert on_err <= 2 * cudnn_err, f"TF32 error {on_err:.3g} > 2x cuDNN's {cudnn_err:.3g}"
    assert on_err > 10 * off_err, f"TF32 on ({on_err:.3g}) is as exact as off ({off_err:.3g})"


def test_compile_inductor_with_kernel_backends():
    m = convkernels.nn.ConvBNReLU2d(16, 32, 3, padding=1, backend="triton").cuda().eval()
    x = torch.randn(2, 16, 12, 12, device="cuda")
    torch.testing.assert_close(torch.compile(m, fullgraph=True)(x), m(x))
