"""Pooling ops (max with indices, avg, adaptive, unpool, spatial pyramid): every backend that
runs here against torch.nn.functional, backward passes, bad inputs, layouts, int64 paths,
registration (opcheck, fakes, torch.compile) and the modules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import _library, nn, ops
from convkernels.backends import BackendUnavailableError
from harness import (
    assert_stream_and_graph_safe,
    assert_within_rule,
    backend_params,
    layouts,
    skip_unless_runs_on_gpu,
)

KERNELS = backend_params(kernels_only=True)
ALL = backend_params()
DTYPES = [torch.float32, torch.float16, torch.bfloat16]

# (kernel, stride, padding, dilation, ceil_mode): overlapping 3x3/2 (AlexNet, ZFNet), GoogLeNet's
# ceil-mode 3x3/2 with padding, VGG 2x2/2, the ceil rule dropping a window that starts in the
# padding, dilation, rectangular windows, stride 1.
MAX_CONFIGS = [
    (3, 2, 0, 1, False),
    (3, 2, 1, 1, True),
    (2, 2, 0, 1, False),
    (3, 2, 1, 1, False),
    (3, 3, 1, 1, True),
    ((2, 3), (1, 2), (1, 1), (2, 1), False),
    (3, 1, 1, 2, True),
]


def _x(*shape, seed=0, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(device, dtype)


def _grad_check(fn_ours, fn_ref, x64, dtype, device, what):
    """Forward and input gradient of fn_ours vs fn_ref under the tolerance rule."""
    g_out = None
    results = {}
    for name, fn, dt in (("ours", fn_ours, dtype), ("torch", fn_ref, dtype),
                         ("ref", fn_ref, torch.float64)):
        x = x64.detach().to(device if name == "ours" else "cpu", dt).clone().requires_grad_()
        y = fn(x)
        y = y[0] if isinstance(y, tuple) else y
        if g_out is None:
            g_out = _x(*y.shape, seed=7, dtype=torch.float64)
        y.backward(g_out.to(y.device, dt))
        results[name] = (y.detach().cpu(), x.grad.cpu())
    assert_within_rule(results["ours"][0], results["torch"][0], results["ref"][0],
                       what=f"{what} forward")
    assert_within_rule(results["ours"][1], results["torch"][1], results["ref"][1],
                       what=f"{what} grad")


# ---- max_pool2d ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("cfg", MAX_CONFIGS, ids=str)
def test_max_pool2d_values_and_indices_equal_torch(backend, device, cfg):
    k, s, p, d, ceil = cfg
    x = _x(2, 5, 9, 8, device=device)
    ref, ref_idx = F.max_pool2d(x.cpu(), k, s, p, d, ceil, return_indices=True)
    for name, xl in layouts(x):
        out, idx = ops.max_pool2d(xl, k, s, p, d, ceil, return_indices=True, backend=backend)
        assert torch.equal(out.cpu(), ref), name
        assert torch.equal(idx.cpu(), ref_idx), name
        assert out.is_contiguous(memory_format=convkernels._layout.output_memory_format(xl))


@pytest.mark.parametrize("backend,device", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_is_exact_in_every_dtype(backend, device, dtype):
    x = _x(2, 16, 11, 11, dtype=dtype, device=device).contiguous(memory_format=torch.channels_last)
    ref, ref_idx = F.max_pool2d(x.cpu(), 3, 2, return_indices=True)
    out, idx = ops.max_pool2d(x, 3, 2, return_indices=True, backend=backend)
    assert out.dtype == dtype and torch.equal(out.cpu(), ref) and torch.equal(idx.cpu(), ref_idx)


@pytest.mark.parametrize("backend,device", KERNELS)
def test_max_pool2d_nan_wins_and_ties_keep_first(backend, device):
    x = torch.zeros(1, 2, 5, 5, device=device)  # all ties: the first tap of each window
    x[0, 0, 1, 1] = float("nan")
    x[0, 1, 2, 3] = float("-inf")
    ref, ref_idx = F.max_pool2d(x.cpu(), 3, 2, 1, return_indices=True)
    out, idx = ops.max_pool2d(x, 3, 2, 1, return_indices=True, backend=backend)
    assert torch.equal(out.cpu().isnan(), ref.isnan())
    torch.testing.assert_close(out.cpu(), ref, equal_nan=True)
    assert torch.equal(idx.cpu(), ref_idx)
    y = torch.full((1, 1, 4, 4), float("-inf"), device=device)  # all -inf: first valid tap
    assert torch.equal(ops.max_pool2d(y, 2, return_indices=True, backend=backend)[1].cpu(),
                       F.max_pool2d(y.cpu(), 2, return_indices=True)[1])


@pytest.mark.parametrize("backend,device", KERNELS)
@pytest.mark.parametrize("cfg", MAX_CONFIGS[:4], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_max_pool2d_backward(backend, device, cfg, dtype):
    k, s, p, d, ceil = cfg
    x = _x(2, 3, 9, 10)
    _grad_check(lambda t: ops.max_pool2d(t, k, s, p, d, ceil, backend=backend),
                lambda t: F.max_pool2d(t, k, s, p, d, ceil), x, dtype, device, f"max {cfg}")


@pytest.mark.parametrize("backend,device", KERNELS)
def test_max_pool2d_backward_is_deterministic_and_channels_last(backend, device):
    x = _x(2, 8, 9, 9, device=device).contiguous(memory_format=torch.channels_last)
    grads = []
    for _ in range(2):
        t = x.clone().requires_grad_()
        ops.max_pool2d(t, 3, 1, 1, backend=backend).sum().backward()  # stride 1: heavy overlap
        grads.append(t.grad)
    assert torch.equal(grads[0], grads[1])
    t = x.cpu().clone().requires_grad_()
    F.max_pool2d(t, 3, 1, 1).sum().backward()
    torch.testing.assert_close(grads[0].cpu(), t.grad)


def test_max_pool2d_three_dim_input_and_default_stride():
    x = _x(4, 7, 7)
    torch.testing.assert_close(ops.max_pool2d(x, 2, backend="torch"), F.max_pool2d(x, 2))
    out, idx = ops.max_pool2d(x, 3, 2, return_indices=True)
    assert out.shape == (4, 3, 3) and idx.shape == (4, 3, 3)


# ---- avg_pool2d ----------------------------------------------------------------------------------

AVG_CONFIGS = [  # (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    (2, 2, 0, False, True, None),     # VGG / DenseNet transition
    (3, 2, 1, True, True, None),
    (3, 2, 1, True, False, None),
    (3, 1, 1, False, False, None),    # Inception v3 branch pool
    ((3, 2), (2, 1), (1, 0), False, True, 5),
    (5, 3, 0, True, True, None),      # GoogLeNet aux head
]


@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("cfg", AVG_CONFIGS, ids=str)
def test_avg_pool2d_forward_and_backward(backend, device, cfg):
    k, s, p, ceil, cip, div = cfg
    x = _x(2, 3, 9, 8)
    _grad_check(lambda t: ops.avg_pool2d(t, k, s, p, ceil, cip, div, backend=backend),
                lambda t: F.avg_pool2d(t, k, s, p, ceil, cip, div), x, torch.float32, device,
                f"avg {cfg}")


@pytest.mark.parametrize("backend,device", KERNELS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_avg_pool2d_half_precision_layouts(backend, device, dtype):
    x = _x(2, 8, 7, 9, device=device)
    ref64 = F.avg_pool2d(x.cpu().double(), 3, 2, 1, True, False)
    torch_same = F.avg_pool2d(x.cpu().to(dtype), 3, 2, 1, True, False)
    for name, xl in layouts(x.to(dtype)):
        assert_within_rule(ops.avg_pool2d(xl, 3, 2, 1, True, False, backend=backend).cpu(),
                           torch_same, ref64, what=name)


# ---- adaptive pools and global average pooling ---------------------------------------------------

@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("size", [1, 3, (2, 5), (11, 13), (None, 2)], ids=str)
def test_adaptive_pools(backend, device, size):
    x = _x(2, 3, 7, 6)
    _grad_check(lambda t: ops.adaptive_avg_pool2d(t, size, backend=backend),
                lambda t: F.adaptive_avg_pool2d(t, size), x, torch.float32, device, f"avg {size}")
    _grad_check(lambda t: ops.adaptive_max_pool2d(t, size, backend=backend),
                lambda t: F.adaptive_max_pool2d(t, size), x, torch.float32, device, f"max {size}")
    out, idx = ops.adaptive_max_pool2d(x.to(device), size, True, backend=backend)
    assert torch.equal(idx.cpu(), F.adaptive_max_pool2d(x, size, True)[1])


@pytest.mark.parametrize("backend,device", ALL)
def test_global_avg_pool_channels_last(backend, device):
    x = _x(2, 16, 7, 7, device=device).contiguous(memory_format=torch.channels_last)
    out = ops.global_avg_pool2d(x, backend=backend)
    assert out.shape == (2, 16, 1, 1)
    torch.testing.assert_close(out.cpu(), F.adaptive_avg_pool2d(x.cpu(), 1))


# ---- max_unpool2d -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("output_size", [None, (9, 9)])
def test_max_unpool2d_forward_and_backward(backend, device, output_size):
    x = _x(2, 3, 8, 8)
    pooled, idx = F.max_pool2d(x, 2, return_indices=True)
    ref = F.max_unpool2d(pooled, idx, 2, output_size=output_size)
    for name, pl in layouts(pooled.to(device)):
        t = pl.detach().clone().requires_grad_()
        out = ops.max_unpool2d(t, idx.to(device), 2, output_size=output_size, backend=backend)
        assert torch.equal(out.cpu(), ref), name
        g = _x(*out.shape, seed=3)
        out.backward(g.to(device))
        assert torch.equal(t.grad.cpu(), g.flatten(2).gather(2, idx.flatten(2)).view_as(pooled))


@pytest.mark.parametrize("backend,device", ALL)
def test_max_unpool2d_rejects_out_of_range_indices(backend, device):
    x = torch.ones(1, 1, 2, 2, device=device)
    idx = torch.tensor([[[[0, 1], [2, 16]]]], device=device)
    with pytest.raises(ValueError, match="invalid max index"):
        ops.max_unpool2d(x, idx, 2, backend=backend)


# ---- spatial pyramid pooling --------------------------------------------------------------------

@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spatial_pyramid_pool_fixed_length_for_any_size(backend, device, mode):
    spp = nn.SpatialPyramidPool2d((1, 2, 4), mode, backend=backend)
    for hw in [(13, 13), (10, 7), (4, 4)]:
        x = _x(2, 6, *hw, device=device)
        out = spp(x)
        assert out.shape == (2, spp.output_features(6)) == (2, 6 * 21)
        pool = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
        ref = torch.cat([pool(x.cpu(), n).flatten(1) for n in (1, 2, 4)], 1)
        torch.testing.assert_close(out.cpu(), ref)


def test_spp_net_conv5_gives_21_bins_of_256():
    assert ops.spatial_pyramid_pool(_x(1, 256, 13, 13)).shape == (1, 21 * 256)


# ---- bad inputs (they fail in the shared checker, before any backend) ---------------------------

BAD = [
    (lambda x: ops.max_pool2d(x, 0), ValueError, "kernel_size must be positive"),
    (lambda x: ops.max_pool2d(x, 3, 0), ValueError, "stride must be positive"),
    (lambda x: ops.max_pool2d(x, 3, 1, -1), ValueError, "non-negative"),
    (lambda x: ops.max_pool2d(x, 3, 1, 2), ValueError, "at most half"),
    (lambda x: ops.max_pool2d(x, 3, 1, 1, dilation=0), ValueError, "dilation must be positive"),
    (lambda x: ops.max_pool2d(x, 9), ValueError, "too small"),
    (lambda x: ops.max_pool2d(x[0, 0], 2), ValueError, "4-D"),
    (lambda x: ops.max_pool2d(x, (2, 2, 2)), TypeError, "pair"),
    (lambda x: ops.avg_pool2d(x, 2, divisor_override=0), ValueError, "non-zero int"),
    (lambda x: ops.adaptive_max_pool2d(x[:, :0], 2), ValueError, "non-zero"),
    (lambda x: ops.avg_pool2d(x, 3, 1, 2), ValueError, "at most half"),
    (lambda x: ops.adaptive_max_pool2d(x, (1, 2, 3)), TypeError, "output_size"),
    (lambda x: ops.max_pool2d(x[:, :, :0], 2), ValueError, "non-zero"),
    (lambda x: ops.max_unpool2d(x, torch.zeros(1, 2, 3, 3, dtype=torch.int64), 2), ValueError,
     "indices must have the input's shape"),
    (lambda x: ops.max_unpool2d(x, torch.zeros_like(x), 2), TypeError, "int64"),
    (lambda x: ops.max_unpool2d(x, torch.zeros_like(x, dtype=torch.int64), 2, output_size=(3, 3)),
     ValueError, "invalid output_size"),
    (lambda x: ops.spatial_pyramid_pool(x, mode="median"), ValueError, "mode"),
    (lambda x: ops.spatial_pyramid_pool(x, levels=(1, 0)), ValueError, "levels"),
]


@pytest.mark.parametrize("backend", ["torch", "triton", "cuda"])
@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_inputs_fail_before_any_backend(backend, case):
    fn, exc, msg = BAD[case]
    x = _x(2, 3, 6, 6)
    with convkernels.use_backend(backend), pytest.raises(exc, match=msg):
        fn(x)


# Inputs torch's own function accepts, which the kernel backends refuse. On the torch backend
# the op is torch's function, so it gives torch's result there: (op call, torch's call,
# the kernel backends' error).
TORCH_ACCEPTS = [
    (lambda x: ops.max_pool2d(x.to(torch.int32), 2),
     lambda x: F.max_pool2d(x.to(torch.int32), 2), TypeError, "floating-point"),
    (lambda x: ops.adaptive_avg_pool2d(x, 0),
     lambda x: F.adaptive_avg_pool2d(x, 0), ValueError, "output_size must be positive"),
]


@pytest.mark.parametrize("backend", ["torch", "triton", "cuda"])
@pytest.mark.parametrize("case", range(len(TORCH_ACCEPTS)))
def test_inputs_only_torch_accepts(backend, case):
    ours, theirs, exc, msg = TORCH_ACCEPTS[case]
    x = _x(2, 3, 6, 6)
    with convkernels.use_backend(backend):
        if backend == "torch":
            torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
        else:
            with pytest.raises(exc, match=msg):
                ours(x)


def test_cpu_tensor_to_cuda_backend_is_refused():
    with pytest.raises(BackendUnavailableError, match="cuda"):
        ops.max_pool2d(_x(1, 2, 4, 4), 2, backend="cuda")


@pytest.mark.parametrize("backend,device", ALL)
def test_empty_batch_gives_empty_output(backend, device):
    x = torch.empty(0, 3, 8, 8, device=device, requires_grad=True)
    out, idx = ops.max_pool2d(x, 3, 2, return_indices=True, backend=backend)
    assert out.shape == idx.shape == (0, 3, 3, 3)
    assert ops.avg_pool2d(x, 2, backend=backend).shape == (0, 3, 4, 4)
    assert ops.adaptive_avg_pool2d(x, 2, backend=backend).shape == (0, 3, 2, 2)
    out.sum().backward()
    assert x.grad.shape == x.shape


# ---- the Triton launchers' int64 offset path, forced on small inputs ----------------------------

@pytest.mark.triton
@pytest.mark.parametrize("backend,device", [p for p in KERNELS if p.values[0] == "triton"])
def test_triton_int64_path_forced(backend, device):
    from convkernels.triton import pool
    x = _x(2, 4, 9, 9, device=device).contiguous(memory_format=torch.channels_last)
    out, idx = pool.max_pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), 5, 5, True, force_int64=True)
    ref, ref_idx = F.max_pool2d(x.cpu(), 3, 2, 1, ceil_mode=True, return_indices=True)
    assert torch.equal(out.cpu(), ref) and torch.equal(idx.cpu(), ref_idx)
    g = _x(*out.shape, seed=2, device=device)
    gx = pool.max_pool2d_backward(g, idx, 9, 9, (3, 3), (2, 2), (1, 1), (1, 1), force_int64=True)
    t = x.cpu().clone().requires_grad_()
    F.max_pool2d(t, 3, 2, 1, ceil_mode=True).backward(g.cpu())
    torch.testing.assert_close(gx.cpu(), t.grad)
    avg = pool.avg_pool2d(x, (2, 2), (2, 2), (0, 0), 4, 4, True, 0, force_int64=True)
    torch.testing.assert_close(avg.cpu(), F.avg_pool2d(x.cpu(), 2))
    un = pool.max_unpool2d(out, idx, 9, 9, force_int64=True)
    torch.testing.assert_close(un.cpu(), F.max_unpool2d(ref, ref_idx, 3, 2, 1, output_size=(9, 9)))


# ---- registration: opcheck, fakes, compile ------------------------------------------------------

def _pool_samples(device):
    x = _x(2, 3, 7, 6, device=device)
    cl = x.contiguous(memory_format=torch.channels_last)
    pooled, idx = F.max_pool2d(x.cpu(), 2, return_indices=True)
    return {
        "max_pool2d": [(x, [3, 3], [2, 2], [1, 1], [1, 1], True, True),
                       (cl, [2, 3], [1, 2], [0, 1], [2, 1], False, True)],
        "avg_pool2d": [(x, [3, 3], [2, 2], [1, 1], True, False, 0), (cl, [2, 2], [2, 2], [0, 0],
                                                                     False, True, 3)],
        "adaptive_avg_pool2d": [(x, [3, 2]), (cl, [1, 1])],
        "adaptive_max_pool2d": [(x, [4, 5], True), (cl, [2, 2], True)],
        "max_unpool2d": [(pooled.to(device), idx.to(device), [7, 6])],
    }


@pytest.mark.parametrize("backend,device", KERNELS)
@pytest.mark.parametrize("primitive", ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
                                       "adaptive_max_pool2d", "max_unpool2d"])
def test_opcheck_pool_primitives(backend, device, primitive):
    op = _library.op(backend, primitive)
    for args in _pool_samples(device)[primitive]:
        args = tuple(a.clone().requires_grad_() if isinstance(a, torch.Tensor)
                     and a.is_floating_point() else a for a in args)
        torch.library.opcheck(op, args)


@pytest.mark.parametrize("backend,device", KERNELS)
def test_fake_strides_equal_real_strides(backend, device):
    from torch._subclasses.fake_tensor import FakeTensorMode
    for primitive, samples in _pool_samples(device).items():
        op = _library.op(backend, primitive)
        for args in samples:
            real = op(*args)
            with FakeTensorMode() as mode:
                fake = op(*[mode.from_tensor(a) if isinstance(a, torch.Tensor) else a
                            for a in args])
            for r, f in zip(*(o if isinstance(o, tuple) else (o,) for o in (real, fake))):
                assert (r.shape, r.stride(), r.dtype) == (f.shape, f.stride(), f.dtype), primitive


def test_fake_kernels_exist_for_cuda_pool_ops_without_a_gpu():
    if not convkernels._extension.load()[0]:
        pytest.skip("extension not built: " + convkernels._extension.load()[1])
    from torch._subclasses.fake_tensor import FakeTensorMode
    cv = torch.ops.convkernels
    with FakeTensorMode():
        x = torch.empty(2, 96, 55, 55, device="cuda", dtype=torch.float16).contiguous(
            memory_format=torch.channels_last)
        out, idx = cv.cuda_max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], False, True)
        assert out.shape == (2, 96, 27, 27) and idx.dtype == torch.int64
        assert idx.is_contiguous(memory_format=torch.channels_last)
        gx = cv.cuda_max_pool2d_backward(out, idx, [55, 55], [3, 3], [2, 2], [0, 0], [1, 1])
        assert gx.shape == x.shape
        avg = cv.cuda_avg_pool2d(x, [2, 2], [2, 2], [0, 0], False, True, 0)
        assert avg.shape == (2, 96, 27, 27)
        assert cv.cuda_adaptive_avg_pool2d(x, [1, 1]).shape == (2, 96, 1, 1)
        assert cv.cuda_max_unpool2d(out, idx, [55, 55]).shape == x.shape


@pytest.mark.parametrize("backend,device", ALL)
def test_compile_fullgraph(backend, device):
    x = _x(2, 3, 9, 9, device=device).requires_grad_()

    def f(x):
        y, idx = ops.max_pool2d(x, 3, 2, 1, return_indices=True, backend=backend)
        z = ops.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape[2:], backend=backend)
        return (ops.avg_pool2d(z, 2, backend=backend).sum()
                + ops.spatial_pyramid_pool(x, backend=backend).sum())

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), f(x))
    compiled(x).backward()
    assert x.grad is not None


# ---- modules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,device", ALL)
def test_modules_mirror_torch(backend, device):
    pairs = [
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True, backend=backend),
         torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False, backend=backend),
         torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
        (nn.AdaptiveAvgPool2d((2, 3), backend=backend), torch.nn.AdaptiveAvgPool2d((2, 3))),
        (nn.AdaptiveMaxPool2d(2, backend=backend), torch.nn.AdaptiveMaxPool2d(2)),
    ]
    x = _x(2, 3, 9, 9, device=device)
    for ours, theirs in pairs:
        torch.testing.assert_close(ours(x).cpu(), theirs(x.cpu()))
        assert ours.state_dict().keys() == theirs.state_dict().keys()
        assert repr(theirs)[len(type(theirs).__name__):].rstrip(")") in repr(ours)
        assert isinstance(ours, type(theirs))
    pool = nn.MaxPool2d(2, return_indices=True, backend=backend)
    y, idx = pool(x[:, :, :8, :8])
    torch.testing.assert_close(nn.MaxUnpool2d(2, backend=backend)(y, idx).cpu(),
                               torch.nn.MaxUnpool2d(2)(y.cpu(), idx.cpu()))
    assert nn.MaxPool2d.from_torch(torch.nn.MaxPool2d(3, 2)).kernel_size == 3


# ---- GPU only: streams, graph capture, offsets beyond 2^31 ----------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["cuda", "triton"])
def test_side_stream_and_graph_capture(backend):
    skip_unless_runs_on_gpu("max_pool2d", backend)
    x = _x(4, 64, 27, 27, device="cuda", dtype=torch.float16).contiguous(
        memory_format=torch.channels_last)

    def run():
        y, idx = ops.max_pool2d(x, 3, 2, return_indices=True, backend=backend)
        return y, idx, ops.avg_pool2d(x, 2, backend=backend)
    assert_stream_and_graph_safe(run)


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cuda", "triton"])
@pytest.mark.slow  # 10-50 s each on the H200 (Triton compile): out of make gpu-check
def test_offsets_beyond_int32(backend):
    """9 x 64 x 2048 x 2048 fp16 = 2.4e9 elements (4.5 GB): the 64-bit index path."""
    skip_unless_runs_on_gpu("max_pool2d", backend)
    free, _ = torch.cuda.mem_get_info()
    if free < 24 * 2**30:
        pytest.skip("needs ~24 GiB of free GPU memory")
    x = torch.randn(9, 64, 2048, 2048, device="cuda", dtype=torch.float16)
    tail = x[-1:]
    out, idx = ops.max_pool2d(x, 3, 2, return_indices=True, backend=backend)
    ref, ref_idx = F.max_pool2d(tail, 3, 2, return_indices=True)
    assert torch.equal(out[-1:], ref) and torch.equal(idx[-1:], ref_idx)


# ---- torch's edge semantics: negative divisors, empty channels, empty batches --------------------

@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("divisor", [-3, -1, 7])
def test_avg_pool_any_non_zero_divisor_override(backend, device, divisor):
    x = torch.randn(2, 3, 6, 5, device=device, requires_grad=True)
    ours = ops.avg_pool2d(x, 3, 2, 1, divisor_override=divisor, backend=backend)
    ref = F.avg_pool2d(x, 3, 2, 1, divisor_override=divisor)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0],
                               torch.autograd.grad(ref, x, g)[0])


@pytest.mark.parametrize("backend,device", ALL)
def test_adaptive_avg_pool_with_no_channels_is_empty_as_in_torch(backend, device):
    x = torch.randn(2, 0, 5, 5, device=device)
    out = ops.adaptive_avg_pool2d(x, (2, 3), backend=backend)
    ref = F.adaptive_avg_pool2d(x, (2, 3))
    assert out.shape == ref.shape and out.stride() == ref.stride()


@pytest.mark.parametrize("backend,device", ALL)
def test_max_unpool_empty_batch(backend, device):
    x = torch.randn(0, 3, 2, 2, device=device)
    idx = torch.zeros(0, 3, 2, 2, dtype=torch.int64, device=device)
    out = ops.max_unpool2d(x, idx, 2, backend=backend)
    assert out.shape == F.max_unpool2d(x, idx, 2).shape == (0, 3, 4, 4)
