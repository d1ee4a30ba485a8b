"""ops.conv2d (direct implicit-GEMM) against torch.nn.functional.conv2d, every backend."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convkernels import ops
from harness import (
    HAS_CUDA,
    REAL_LAYERS,
    SMALL_CASES,
    ConvCase,
    assert_within_rule,
    backend_params,
    layouts,
    requires_triton,
)

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _check_conv(case: ConvCase, backend, device, dtype, with_bias=True, layout="nchw"):
    x, w, b = case.tensors(dtype, device)
    x = dict(layouts(x))[layout]
    b = b if with_bias else None
    ours = ops.conv2d(x, w, b, **case.kwargs(), backend=backend)
    same = F.conv2d(x, w, b, **case.kwargs())
    ref = F.conv2d(x.double(), w.double(), None if b is None else b.double(), **case.kwargs())
    assert_within_rule(ours, same, ref, what=f"{case.name}/{backend}/{dtype}/{layout}")
    return ours, x


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("case", SMALL_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_small_shapes(backend, device, case, dtype):
    _check_conv(case, backend, device, dtype)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "sliced", "permuted", "misaligned"])
@pytest.mark.parametrize("case", [SMALL_CASES[1], SMALL_CASES[2], SMALL_CASES[7]],
                         ids=lambda c: c.name)
def test_layouts_and_output_format(backend, device, layout, case):
    out, x = _check_conv(case, backend, device, torch.float32, layout=layout)
    expect_cl = (x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
    assert out.is_contiguous(memory_format=torch.channels_last if expect_cl
                             else torch.contiguous_format)


@pytest.mark.parametrize("backend,device", backend_params())
def test_without_bias(backend, device):
    _check_conv(SMALL_CASES[1], backend, device, torch.float32, with_bias=False)


@pytest.mark.parametrize("case", REAL_LAYERS, ids=lambda c: c.name)
def test_real_layers_torch_backend_cpu(case):
    _check_conv(case, "torch", "cpu", torch.float32)


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["cuda", "triton"])
@pytest.mark.parametrize("case", REAL_LAYERS, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.slow  # 10-50 s each on the H200 (Triton compile): out of make gpu-check
def test_real_layers_gpu(backend, case, dtype, layout):
    _check_conv(case, backend, "cuda", dtype, layout=layout)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_string_padding(backend, device, padding, k):
    x, w, b = ConvCase("s", 1, 3, 7, 6, 4, k, k).tensors(device=device)
    ours = ops.conv2d(x, w, b, padding=padding, backend=backend)
    ref = F.conv2d(x.double(), w.double(), b.double(), padding=padding)
    assert_within_rule(ours, F.conv2d(x, w, b, padding=padding), ref, what=f"{padding} k={k}")


@pytest.mark.parametrize("backend,device", backend_params())
def test_empty_batch(backend, device):
    x, w, b = SMALL_CASES[1].tensors(device=device)
    out = ops.conv2d(x[:0], w, b, padding=1, backend=backend)
    assert out.shape == (0, 5, 7, 7)


@pytest.mark.parametrize("backend,device", backend_params())
def test_nan_and_inf_propagate(backend, device):
    x, w, b = SMALL_CASES[1].tensors(device=device)
    x[0, 0, 3, 3] = float("nan")
    x[1, 1, 0, 0] = float("inf")
    ours = ops.conv2d(x, w, b, padding=1, backend=backend)
    ref = F.conv2d(x, w, b, padding=1)
    assert torch.equal(torch.isnan(ours), torch.isnan(ref))
    assert torch.equal(torch.isinf(ours), torch.isinf(ref))


@pytest.mark.parametrize("backend,device", backend_params())
def test_gradients_match_reference(backend, device):
    case = ConvCase("g", 2, 3, 6, 5, 4, 3, 3, stride=2, padding=1)
    x, w, b = case.tensors(device=device)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    ref_leaves = [t.double().clone().requires_grad_() for t in (x, w, b)]
    same_leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    gy = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    ops.conv2d(*leaves, **case.kwargs(), backend=backend).backward(gy.to(device, x.dtype))
    F.conv2d(*ref_leaves, **case.kwargs()).backward(gy.to(device))
    F.conv2d(*same_leaves, **case.kwargs()).backward(gy.to(device, x.dtype))
    for name, a, s, r in zip("xwb", leaves, same_leaves, ref_leaves):
        assert_within_rule(a.grad, s.grad, r.grad, what=f"grad {name}")


# winograd_2x2 / winograd_4x4 are real algorithms: tests/test_winograd.py
@pytest.mark.parametrize("algo", ["winograd_6x6", "fft", ""])
def test_unknown_algo_is_a_clear_error(algo):
    x, w, b = SMALL_CASES[0].tensors()
    with pytest.raises(ValueError, match="convkernels.conv2d: algo must be one of"):
        ops.conv2d(x, w, b, algo=algo)


@pytest.mark.parametrize("backend", ["torch", None])
def test_algo_direct_runs_on_cpu_with_the_torch_backend(backend):
    x, w, b = SMALL_CASES[0].tensors()
    kwargs = SMALL_CASES[0].kwargs()
    y = ops.conv2d(x, w, b, **kwargs, algo="direct", backend=backend)
    torch.testing.assert_close(y, F.conv2d(x, w, b, **kwargs))


@pytest.mark.triton
@requires_triton()
@pytest.mark.skipif(HAS_CUDA, reason="property test sized for the Triton interpreter")
@settings(deadline=None, max_examples=25, derandomize=True)
@given(N=st.integers(1, 2), C=st.integers(1, 9), H=st.integers(1, 8), W=st.integers(1, 8),
       K=st.integers(1, 9), R=st.sampled_from([1, 2, 3, 5]), stride=st.integers(1, 3),
       dilation=st.integers(1, 2), pad_frac=st.floats(0, 1), relu=st.booleans())
def test_property_triton_matches_reference(N, C, H, W, K, R, stride, dilation, pad_frac, relu):
    padding = int(pad_frac * (R - 1))
    eff = dilation * (R - 1) + 1
    if H + 2 * padding < eff or W + 2 * padding < eff:
        return  # an invalid geometry is test_bad_inputs' business
    case = ConvCase("h", N, C, H, W, K, R, R, stride, padding, dilation)
    x, w, b = case.tensors()
    scale = torch.rand(K) + 0.5
    res = torch.randn(N, K, *F.conv2d(x, w, **case.kwargs()).shape[2:])
    ours = ops.conv2d_affine(x, w, scale, b, **case.kwargs(), relu=relu, residual=res,
                             backend="triton")
    ref = F.conv2d(x.double(), w.double(), **case.kwargs()) * scale.double().view(1, -1, 1, 1) \
        + b.double().view(1, -1, 1, 1) + res.double()
    ref = ref.relu() if relu else ref
    same = F.conv2d(x, w, **case.kwargs()) * scale.view(1, -1, 1, 1) + b.view(1, -1, 1, 1) + res
    assert_within_rule(ours, same.relu() if relu else same, ref, what=str(case))


@pytest.mark.triton
@requires_triton()
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_int64_offset_path_forced_on_small_inputs(layout):
    """Checklist 9: the 64-bit offset path, which real inputs take past 2^31 elements."""
    from convkernels.triton import conv as triton_conv
    case = SMALL_CASES[2]
    x, w, b = case.tensors(device="cuda" if HAS_CUDA else "cpu")
    x = dict(layouts(x))[layout]
    kw = case.kwargs()
    ours = triton_conv.conv2d_fused(x, w, None, b, None, [kw["stride"]] * 2,
                                    [kw["padding"]] * 2, [kw["dilation"]] * 2, False,
                                    index64=True)
    ref = F.conv2d(x.double(), w.double(), b.double(), **kw)
    assert_within_rule(ours, F.conv2d(x, w, b, **kw), ref, what=f"int64 {layout}")


# ---- torch's edge semantics: unbatched input, zero channels --------------------------------------

@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("groups", [1, 3])
def test_unbatched_input_like_torch(backend, device, groups):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 7, 5, generator=g).to(device)
    w = torch.randn(6, 6 // groups, 3, 3, generator=g).to(device)
    b = torch.randn(6, generator=g).to(device)
    ours = ops.conv2d(x, w, b, 1, 1, 1, groups, backend=backend)
    ref = F.conv2d(x, w, b, 1, 1, 1, groups)
    assert ours.shape == ref.shape == (6, 7, 5)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
    if groups == 1:
        dw = torch.randn(12, 1, 3, 3, generator=g).to(device)
        torch.testing.assert_close(ops.depthwise_conv2d(x, dw, padding=1, backend=backend),
                                   F.conv2d(x, dw, padding=1, groups=6), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend,device", backend_params())
def test_unbatched_input_through_modules(backend, device):
    import convkernels
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(4, 5, 3, padding=1, padding_mode="reflect").to(device)
    ours = convkernels.nn.Conv2d.from_torch(ref, backend=backend)
    x = torch.randn(4, 6, 6, device=device)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend,device", backend_params())
def test_zero_input_channels_and_zero_output_channels_like_torch(backend, device):
    x, w, b = torch.randn(2, 0, 5, 5), torch.randn(3, 0, 3, 3), torch.ones(3)
    ours = ops.conv2d(x.to(device), w.to(device), b.to(device), backend=backend)
    assert ours.shape == F.conv2d(x, w, b).shape == (2, 0, 3, 3)
    with pytest.raises(RuntimeError):
        F.conv2d(torch.randn(2, 3, 5, 5), torch.randn(0, 3, 3, 3))
    with pytest.raises(ValueError, match="at least one output channel"):
        ops.conv2d(torch.randn(2, 3, 5, 5, device=device),
                   torch.randn(0, 3, 3, 3, device=device), backend=backend)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("epilogue", ["plain", "affine_residual_relu"])
def test_sm90_conv_matches_float64_and_the_mma_sync_kernel(monkeypatch, dtype, epilogue):
    """On a Hopper GPU with the sm_90a CUTLASS conv built: channels_last fp16/bf16 calls take it
    (csrc/ops/conv.cpp, path 1). Each epilogue piece is held to the tolerance rule, and the
    mma.sync kernel (CONVKERNELS_DISABLE_SM90_CONV=1) gives the same values within it too."""
    from convkernels import _extension
    if not HAS_CUDA or torch.cuda.get_device_capability()[0] != 9:
        pytest.skip("needs a compute capability 9.x GPU")
    if not _extension.build_info().get("sm90_conv", {}).get("built"):
        pytest.skip("this build has no sm_90a conv (nvidia-cutlass headers missing at build time)")
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(4, 64, 19, 23, device="cuda", generator=g).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    w = (0.1 * torch.randn(96, 64, 3, 3, device="cuda", generator=g)).to(dtype)
    kwargs = dict(stride=1, padding=1)
    if epilogue == "plain":
        scale = shift = residual = None
        relu = False
    else:
        scale = 1 + 0.1 * torch.randn(96, device="cuda", generator=g)
        shift = torch.randn(96, device="cuda", generator=g)
        residual = torch.randn(4, 96, 19, 23, device="cuda", generator=g).to(dtype)
        residual = residual.contiguous(memory_format=torch.channels_last)
        relu = True

    def run():
        return ops.conv2d_affine(x, w, scale, shift, **kwargs, relu=relu, residual=residual,
                                 backend="cuda")

    def composition(xx, ww, rr):
        y = F.conv2d(xx, ww, None, **kwargs)
        if scale is not None:
            y = y * scale.to(y.dtype).view(1, -1, 1, 1) + shift.to(y.dtype).view(1, -1, 1, 1)
        if rr is not None:
            y = y + rr
        return torch.relu(y) if relu else y

    ours = run()
    assert ours.is_contiguous(memory_format=torch.channels_last)
    ref = composition(x.double(), w.double(), None if residual is None else residual.double())
    same = composition(x, w, residual)
    assert_within_rule(ours, same, ref, what=f"sm90/{dtype}/{epilogue}")
    monkeypatch.setenv("CONVKERNELS_DISABLE_SM90_CONV", "1")
    mma_sync = run()
    assert_within_rule(mma_sync, same, ref, what=f"mma.sync/{dtype}/{epilogue}")
