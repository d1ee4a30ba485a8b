"""Local response normalization and the fused LRN + max-pool: every backend that runs here
against torch.nn.functional.local_response_norm (even and odd sizes, the papers' settings),
backward passes, layouts, dtypes, bad inputs, registration and the modules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import _library, nn, ops
from harness import (
    assert_stream_and_graph_safe,
    assert_within_rule,
    backend_params,
    layouts,
    skip_unless_runs_on_gpu,
)

KERNELS = backend_params(kernels_only=True)
ALL = backend_params()

# (size, alpha, beta, k): AlexNet (alpha/size tiny: a near-identity), GoogLeNet, then strong
# settings where the window sum matters, even sizes (asymmetric windows), size 1, size > C.
SETTINGS = [
    (5, 1e-4, 0.75, 2.0),
    (5, 1e-4, 0.75, 1.0),
    (3, 2.0, 0.75, 1.0),
    (4, 1.5, 0.6, 0.5),
    (2, 3.0, 1.0, 1.0),
    (1, 0.5, 0.5, 1.0),
    (9, 1.0, 0.75, 1.0),
]


def _x(*shape, seed=0, dtype=torch.float64, device="cpu", scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).to(device, dtype)


def _fwd_bwd(fn, x, dtype, device, g):
    t = x.detach().to(device, dtype).clone().requires_grad_()
    y = fn(t)
    y = y[0] if isinstance(y, tuple) else y
    y.backward(g.to(device, dtype))
    return y.detach().cpu(), t.grad.cpu()


def _check(fn_ours, fn_ref, x, dtype, device, what):
    g = _x(*fn_ref(x).shape, seed=9)
    ours = _fwd_bwd(fn_ours, x, dtype, device, g)
    same = _fwd_bwd(fn_ref, x, dtype, "cpu", g)
    ref = _fwd_bwd(fn_ref, x, torch.float64, "cpu", g)
    assert_within_rule(ours[0], same[0], ref[0], what=f"{what} forward")
    assert_within_rule(ours[1], same[1], ref[1], what=f"{what} grad")


@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_lrn_matches_torch_forward_and_backward(backend, device, setting):
    size, alpha, beta, k = setting
    x = _x(2, 7, 4, 5, scale=2.0)
    _check(lambda t: ops.local_response_norm(t, size, alpha, beta, k, backend=backend),
           lambda t: F.local_response_norm(t, size, alpha, beta, k), x, torch.float32, device,
           str(setting))


def _torch_lrn_in(dtype, x, size, alpha, beta, k):
    """F.local_response_norm as PyTorch's CUDA kernels run it in a 16-bit dtype (aten's CPU
    kernels have no half/bfloat16 avg_pool3d): each of its ops computes in fp32 and rounds
    its result to the dtype."""
    def r(t):
        return t.to(dtype).float()
    x = r(x)
    div = r(x * x).view(x.shape[0], 1, x.shape[1], x.shape[2], -1)
    div = F.pad(div, (0, 0, 0, 0, size // 2, (size - 1) // 2))
    div = r(F.avg_pool3d(div, (size, 1, 1), stride=1).squeeze(1).view_as(x))
    div = r(r(r(div * alpha) + k).pow(beta))
    return r(x / div).to(dtype)


@pytest.mark.parametrize("backend,device", KERNELS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_lrn_half_precision_every_layout(backend, device, dtype):
    x = _x(2, 8, 3, 5, scale=2.0).to(dtype).double()  # representable inputs
    ref64 = F.local_response_norm(x, 4, 1.5, 0.75, 1.0)
    same = _torch_lrn_in(dtype, x, 4, 1.5, 0.75, 1.0)
    for name, xl in layouts(x.to(device, dtype)):
        out = ops.local_response_norm(xl, 4, 1.5, 0.75, 1.0, backend=backend)
        assert_within_rule(out.cpu(), same, ref64, what=name)
        assert out.is_contiguous(memory_format=convkernels._layout.output_memory_format(xl))


@pytest.mark.parametrize("backend,device", KERNELS)
def test_lrn_backward_channels_last_and_deterministic(backend, device):
    x = _x(2, 16, 3, 3, scale=2.0, dtype=torch.float32, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    grads = []
    for _ in range(2):
        t = x.clone().requires_grad_()
        ops.local_response_norm(t, 5, 1.0, 0.75, 1.0, backend=backend).square().sum().backward()
        grads.append(t.grad)
    assert torch.equal(grads[0], grads[1])
    t = x.cpu().double().requires_grad_()
    F.local_response_norm(t, 5, 1.0, 0.75, 1.0).square().sum().backward()
    torch.testing.assert_close(grads[0].cpu().double(), t.grad, rtol=1e-5, atol=1e-5)


def test_lrn_three_dim_input_and_presets():
    x = _x(2, 6, 9, dtype=torch.float32)
    torch.testing.assert_close(ops.local_response_norm(x, 3), F.local_response_norm(x, 3))
    assert ops.ALEXNET_LRN == {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
    assert ops.GOOGLENET_LRN == {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}
    y = _x(1, 96, 5, 5, dtype=torch.float32)
    torch.testing.assert_close(ops.local_response_norm(y, **ops.ALEXNET_LRN),
                               F.local_response_norm(y, 5, 1e-4, 0.75, 2.0))


@pytest.mark.parametrize("backend,device", KERNELS)
def test_lrn_nan_propagates_like_torch(backend, device):
    x = _x(1, 6, 2, 2, dtype=torch.float32)
    x[0, 2, 1, 0] = float("nan")
    ref = F.local_response_norm(x, 3, 1.0, 0.75, 1.0)
    out = ops.local_response_norm(x.to(device), 3, 1.0, 0.75, 1.0, backend=backend).cpu()
    assert torch.equal(out.isnan(), ref.isnan())
    torch.testing.assert_close(out, ref, equal_nan=True)


@pytest.mark.parametrize("backend,device", KERNELS)
@pytest.mark.parametrize("beta", [0.0, 0.75])
def test_lrn_infinity_like_torch(backend, device, beta):
    """x^0 is 1 even for an infinite sum of squares: beta=0 with an inf gives x, not NaN."""
    x = _x(1, 6, 2, 2, dtype=torch.float32)
    x[0, 2, 1, 0] = float("inf")
    x[0, 4, 0, 1] = float("-inf")
    ref = F.local_response_norm(x, 3, 1.0, beta, 1.0)
    out = ops.local_response_norm(x.to(device), 3, 1.0, beta, 1.0, backend=backend).cpu()
    torch.testing.assert_close(out, ref, equal_nan=True)


# ---- fused LRN + max-pool -----------------------------------------------------------------------

FUSED = [  # (order, kernel, stride, padding, ceil_mode)
    ("lrn_pool", 3, 2, 0, False),   # AlexNet norm1 -> pool1
    ("pool_lrn", 3, 2, 0, True),    # GoogLeNet pool1 (ceil) -> norm1
    ("pool_lrn", 3, 2, 1, True),
    ("lrn_pool", 2, 2, 0, False),
]


def _unfused(order, size, alpha, beta, k, kernel, stride, padding, ceil):
    def fn(t):
        if order == "lrn_pool":
            return F.max_pool2d(F.local_response_norm(t, size, alpha, beta, k), kernel, stride,
                                padding, ceil_mode=ceil)
        return F.local_response_norm(F.max_pool2d(t, kernel, stride, padding, ceil_mode=ceil),
                                     size, alpha, beta, k)
    return fn


@pytest.mark.parametrize("backend,device", ALL)
@pytest.mark.parametrize("cfg", FUSED, ids=str)
@pytest.mark.parametrize("lrn", [(5, 2.0, 0.75, 2.0), (4, 1e-4, 0.75, 2.0)], ids=str)
def test_lrn_max_pool_equals_the_two_ops(backend, device, cfg, lrn):
    order, kernel, stride, padding, ceil = cfg
    x = _x(2, 7, 9, 8, scale=2.0)
    _check(lambda t: ops.lrn_max_pool2d(t, *lrn, kernel, stride, padding, 1, ceil, order=order,
                                        backend=backend),
           _unfused(order, *lrn, kernel, stride, padding, ceil), x, torch.float32, device,
           f"{cfg} {lrn}")


@pytest.mark.parametrize("backend,device", KERNELS)
@pytest.mark.parametrize("order", ["lrn_pool", "pool_lrn"])
def test_lrn_max_pool_indices_and_layouts(backend, device, order):
    x = _x(2, 6, 9, 9, scale=2.0, dtype=torch.float32)
    ref = _unfused(order, 3, 2.0, 0.75, 1.0, 3, 2, 0, False)(x)
    for name, xl in layouts(x.to(device)):
        out, idx = ops.lrn_max_pool2d(xl, 3, 2.0, 0.75, 1.0, 3, 2, order=order,
                                      return_indices=True, backend=backend)
        torch.testing.assert_close(out.cpu(), ref, rtol=2e-6, atol=2e-6, msg=name)
        pooled_plane = x if order == "pool_lrn" else F.local_response_norm(x, 3, 2.0, 0.75, 1.0)
        # the index names the pooled tap: the pooled plane at the index is the window's max
        picked = pooled_plane.flatten(2).gather(2, idx.cpu().flatten(2)).view_as(idx)
        torch.testing.assert_close(picked, F.max_pool2d(pooled_plane, 3, 2), rtol=2e-6,
                                   atol=2e-6, msg=name)


# ---- bad inputs ---------------------------------------------------------------------------------

BAD = [
    (lambda x: ops.local_response_norm(x, 0), ValueError, "size must be a positive int"),
    (lambda x: ops.local_response_norm(x, 2.5), ValueError, "size"),
    (lambda x: ops.local_response_norm(x, 3, alpha="a"), TypeError, "alpha"),
    (lambda x: ops.local_response_norm(x[0, 0], 3), ValueError, "4-D"),
    (lambda x: ops.lrn_max_pool2d(x, 5, order="norm_first"), ValueError, "order"),
    (lambda x: ops.lrn_max_pool2d(x, 5, kernel_size=3, stride=2, padding=2), ValueError, "half"),
    (lambda x: ops.lrn_max_pool2d(x, 0), ValueError, "size"),
]


@pytest.mark.parametrize("backend", ["torch", "triton", "cuda"])
@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_inputs_fail_before_any_backend(backend, case):
    fn, exc, msg = BAD[case]
    with convkernels.use_backend(backend), pytest.raises(exc, match=msg):
        fn(_x(2, 4, 6, 6, dtype=torch.float32))


@pytest.mark.parametrize("backend", ["torch", "triton", "cuda"])
def test_integer_input_is_torchs_on_the_torch_backend(backend):
    """torch's LRN takes an integer input; on the torch backend the op is torch's function.
    The kernel backends refuse it before they run."""
    x = _x(2, 4, 6, 6, dtype=torch.float32).mul(10).to(torch.int64)
    if backend == "torch":
        torch.testing.assert_close(ops.local_response_norm(x, 3, backend="torch"),
                                   F.local_response_norm(x, 3), rtol=0, atol=0)
    else:
        with convkernels.use_backend(backend), pytest.raises(TypeError, match="floating-point"):
            ops.local_response_norm(x, 3)


@pytest.mark.parametrize("backend,device", ALL)
def test_empty_batch(backend, device):
    x = torch.empty(0, 4, 6, 6, device=device, requires_grad=True)
    assert ops.local_response_norm(x, 3, backend=backend).shape == x.shape
    y = ops.lrn_max_pool2d(x, 3, backend=backend)
    assert y.shape == (0, 4, 2, 2)
    y.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.triton
@pytest.mark.parametrize("backend,device", [p for p in KERNELS if p.values[0] == "triton"])
def test_triton_int64_path_forced(backend, device):
    from convkernels.triton import lrn
    x = _x(2, 6, 5, 5, scale=2.0, dtype=torch.float32, device=device).contiguous(
        memory_format=torch.channels_last)
    torch.testing.assert_close(lrn.local_response_norm(x, 3, 2.0, 0.75, 1.0, force_int64=True),
                               F.local_response_norm(x, 3, 2.0, 0.75, 1.0))
    g = _x(*x.shape, seed=1, dtype=torch.float32, device=device)
    t = x.clone().requires_grad_()
    F.local_response_norm(t, 3, 2.0, 0.75, 1.0).backward(g)
    torch.testing.assert_close(
        lrn.local_response_norm_backward(g, x, 3, 2.0, 0.75, 1.0, force_int64=True), t.grad)
    out, _ = lrn.lrn_max_pool2d(x, 3, 2.0, 0.75, 1.0, (3, 3), (2, 2), (0, 0), (1, 1), 2, 2,
                                True, False, force_int64=True)
    torch.testing.assert_close(out, _unfused("pool_lrn", 3, 2.0, 0.75, 1.0, 3, 2, 0, False)(x))


# ---- registration -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,device", KERNELS)
def test_opcheck_lrn_primitives(backend, device):
    x = _x(2, 5, 4, 3, dtype=torch.float32, device=device)
    cl = x.contiguous(memory_format=torch.channels_last)
    lrn = _library.op(backend, "local_response_norm")
    fused = _library.op(backend, "lrn_max_pool2d")
    for t in (x, cl):
        torch.library.opcheck(lrn, (t.clone().requires_grad_(), 3, 2.0, 0.75, 1.0))
    for pool_first in (False, True):
        torch.library.opcheck(fused, (cl.clone().requires_grad_(), 3, 2.0, 0.75, 1.0, [2, 2],
                                      [1, 1], [1, 1], [1, 1], True, pool_first, True))


def test_fake_kernels_exist_for_cuda_lrn_ops_without_a_gpu():
    if not convkernels._extension.load()[0]:
        pytest.skip("extension not built: " + convkernels._extension.load()[1])
    from torch._subclasses.fake_tensor import FakeTensorMode
    cv = torch.ops.convkernels
    with FakeTensorMode():
        x = torch.empty(2, 96, 55, 55, device="cuda", dtype=torch.bfloat16)
        assert cv.cuda_local_response_norm(x, 5, 1e-4, 0.75, 2.0).shape == x.shape
        assert cv.cuda_local_response_norm_backward(x, x, 5, 1e-4, 0.75, 2.0).shape == x.shape
        out, idx = cv.cuda_lrn_max_pool2d(x, 5, 1e-4, 0.75, 2.0, [3, 3], [2, 2], [0, 0], [1, 1],
                                          False, False, True)
        assert out.shape == idx.shape == (2, 96, 27, 27)


@pytest.mark.parametrize("backend,device", ALL)
def test_compile_fullgraph(backend, device):
    x = _x(2, 6, 7, 7, dtype=torch.float32, device=device).requires_grad_()

    def f(x):
        y = ops.lrn_max_pool2d(x, **ops.ALEXNET_LRN, kernel_size=3, stride=2, backend=backend)
        return ops.local_response_norm(y, 3, 1.0, backend=backend).sum()

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), f(x))
    compiled(x).backward()
    assert x.grad is not None


# ---- on a GPU: streams, CUDA graphs, 64-bit offsets ----------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["cuda", "triton"])
def test_side_stream_and_graph_capture(backend):
    skip_unless_runs_on_gpu("local_response_norm", backend)
    x = _x(4, 64, 27, 27, device="cuda", dtype=torch.float16).contiguous(
        memory_format=torch.channels_last)

    def run():
        y, idx = ops.lrn_max_pool2d(x, **ops.ALEXNET_LRN, return_indices=True, backend=backend)
        return ops.local_response_norm(x, **ops.ALEXNET_LRN, backend=backend), y, idx
    assert_stream_and_graph_safe(run)


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["cuda", "triton"])
@pytest.mark.slow  # 10-50 s each on the H200 (Triton compile): out of make gpu-check
def test_offsets_beyond_int32(backend):
    """9 x 64 x 2048 x 2048 fp16 = 2.4e9 elements (4.5 GB): the 64-bit index path."""
    skip_unless_runs_on_gpu("local_response_norm", backend)
    free, _ = torch.cuda.mem_get_info()
    if free < 24 * 2**30:
        pytest.skip("needs ~24 GiB of free GPU memory")
    x = torch.randn(9, 64, 2048, 2048, device="cuda", dtype=torch.float16)
    y = ops.local_response_norm(x, **ops.ALEXNET_LRN, backend=backend)
    torch.testing.assert_close(y[-1:], F.local_response_norm(x[-1:], **ops.ALEXNET_LRN),
                               atol=2e-3, rtol=2e-3)


# ---- modules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,device", ALL)
def test_local_response_norm_module(backend, device):
    ours = nn.LocalResponseNorm(**ops.ALEXNET_LRN, backend=backend)
    theirs = torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)
    assert isinstance(ours, torch.nn.LocalResponseNorm)
    assert repr(ours).startswith(repr(theirs)[:-1])
    x = _x(2, 8, 3, 3, dtype=torch.float32, device=device)
    torch.testing.assert_close(ours(x).cpu(), theirs(x.cpu()))


@pytest.mark.parametrize("backend,device", ALL)
def test_fuse_lrn_max_pool_in_alexnet_and_googlenet_stems(backend, device):
    alexnet = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=2), torch.nn.ReLU(),
        torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), torch.nn.MaxPool2d(3, 2))
    googlenet = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=2), torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, 2, ceil_mode=True), torch.nn.LocalResponseNorm(5, 1e-4, 0.75))
    x = _x(2, 3, 23, 23, dtype=torch.float32)
    for model, order in ((alexnet, "lrn_pool"), (googlenet, "pool_lrn")):
        model = model.to(device)
        want = model(x.to(device))
        keys = model.state_dict().keys()
        assert nn.fuse_lrn_max_pool(model, backend=backend) == ["2+3"]
        assert isinstance(model[2], nn.LRNMaxPool2d) and model[2].order == order
        assert isinstance(model[3], torch.nn.Identity) and model.state_dict().keys() == keys
        torch.testing.assert_close(model(x.to(device)), want, rtol=1e-5, atol=1e-5)
    plain = torch.nn.Sequential(torch.nn.MaxPool2d(2, return_indices=True),
                                torch.nn.LocalResponseNorm(3))
    assert nn.fuse_lrn_max_pool(plain) == []  # a pool returning indices stays as it is
