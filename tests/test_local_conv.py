"""local_conv2d / LocallyConnected2d: numerics against an independent float64 loop, layouts,
dtypes, autograd, the bad-input checklist, and the module."""

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import ops
from harness import assert_within_rule, backend_params, layouts, requires_triton

BACKENDS = backend_params()  # torch-cpu, triton-cpu (interpreter), and the GPU pairs there


def loop_reference(x, w, b, stride, padding, dilation):
    """Position by position, float64, no unfold: the definition itself."""
    x = F.pad(x.double(), (padding[1], padding[1], padding[0], padding[0]))
    P, Q, K, C, R, S = w.shape
    out = torch.zeros(x.shape[0], K, P, Q, dtype=torch.float64)
    for p in range(P):
        for q in range(Q):
            h0, w0 = p * stride[0], q * stride[1]
            patch = x[:, :, h0:h0 + dilation[0] * (R - 1) + 1:dilation[0],
                      w0:w0 + dilation[1] * (S - 1) + 1:dilation[1]]       # [N, C, R, S]
            out[:, :, p, q] = torch.einsum("ncrs,kcrs->nk", patch, w[p, q].double())
    return out if b is None else out + b.double()


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


CASES = [  # N, C, H, W, K, R, S, stride, padding, dilation
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (0, 0), (1, 1)),
    (1, 5, 9, 9, 3, 3, 2, (2, 1), (1, 0), (1, 1)),
    (2, 2, 8, 8, 2, 2, 2, (1, 2), (0, 1), (2, 1)),
    (1, 4, 5, 5, 6, 5, 5, (1, 1), (0, 0), (1, 1)),   # 1x1 output
]


def make(case, dtype=torch.float32, bias=True):
    N, C, H, W, K, R, S, st, pad, dil = case
    P, Q = out_size(H, R, st[0], pad[0], dil[0]), out_size(W, S, st[1], pad[1], dil[1])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, C, H, W, generator=g).to(dtype)
    w = torch.randn(P, Q, K, C, R, S, generator=g).to(dtype)
    b = torch.randn(K, P, Q, generator=g).to(dtype) if bias else None
    return x, w, b, st, pad, dil


def on(device, *tensors):
    return tuple(t.to(device) if t is not None else None for t in tensors)


@pytest.mark.parametrize("backend, device", BACKENDS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_matches_loop_reference_fp32(case, bias, backend, device):
    x, w, b, st, pad, dil = make(case, bias=bias)
    ref = loop_reference(x, w, b, st, pad, dil)
    # the float32 rule: within 2x torch's own float32 error (F.conv2d has no twin; the
    # reference backend plays torch) plus the floor
    torch_same = ops.local_conv2d(x, w, b, st, pad, dil, backend="torch")
    out = ops.local_conv2d(*on(device, x, w, b), st, pad, dil, backend=backend)
    assert out.dtype == torch.float32
    assert_within_rule(out.cpu(), torch_same, ref, what=f"{backend} {case}")


@pytest.mark.parametrize("backend, device", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_dtypes_within_rule(dtype, backend, device):
    x, w, b, st, pad, dil = make(CASES[1], dtype)
    ref = loop_reference(x, w, b, st, pad, dil)
    # torch's own same-dtype answer: a float32 computation rounded once, the best torch gives
    torch_same = loop_reference(x, w, b, st, pad, dil).to(dtype)
    out = ops.local_conv2d(*on(device, x, w, b), st, pad, dil, backend=backend)
    assert_within_rule(out.cpu(), torch_same, ref, what=f"{backend} {dtype}")


@pytest.mark.parametrize("backend, device", BACKENDS)
def test_layouts_give_the_same_numbers_and_output_follows_input(backend, device):
    x, w, b, st, pad, dil = make(CASES[0])
    x, w, b = on(device, x, w, b)
    expected = ops.local_conv2d(x.contiguous(), w, b, st, pad, dil, backend="torch")
    for name, xl in layouts(x):
        out = ops.local_conv2d(xl, w, b, st, pad, dil, backend=backend)
        torch.testing.assert_close(out, expected, msg=name)
        if name == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)


@requires_triton()
@pytest.mark.triton
def test_triton_int64_offset_path_forced_on_small_inputs():
    from convkernels.triton.local_conv import local_conv2d
    x, w, b, st, pad, dil = make(CASES[1])
    ref = loop_reference(x, w, b, st, pad, dil)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    out = local_conv2d(*on(dev, x, w, b), st, pad, dil, index64=True)
    torch.testing.assert_close(out.cpu().double(), ref, rtol=1e-5, atol=1e-4)


@requires_triton()
@pytest.mark.triton
def test_triton_gradients_and_opcheck():
    x, w, b, st, pad, dil = make((1, 2, 5, 4, 3, 2, 2, (1, 1), (1, 0), (1, 1)))
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    leaves = [t.to(dev).requires_grad_() for t in (x, w, b)]
    refs = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    g = torch.randn(1, 3, 6, 3)
    ops.local_conv2d(*leaves, st, pad, dil, backend="triton").backward(g.to(dev))
    ops.local_conv2d(*refs, st, pad, dil, backend="torch").backward(g)
    for got, want in zip(leaves, refs):
        torch.testing.assert_close(got.grad.cpu(), want.grad, rtol=1e-4, atol=1e-4)
    op = torch.ops.convkernels.triton_local_conv2d.default
    torch.library.opcheck(op, (*on(dev, x, w, b), list(st), list(pad), list(dil)),
                          test_utils=("test_schema", "test_faketensor"))


def test_shared_weights_reduce_to_conv2d():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    k = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    w = k.expand(6, 6, 5, 3, 3, 3)  # every position the same bank (an expanded weight)
    torch.testing.assert_close(ops.local_conv2d(x, w), F.conv2d(x, k))


def test_gradients_float64():
    x, w, b, st, pad, dil = make((1, 2, 4, 4, 2, 2, 2, (2, 1), (1, 0), (1, 1)), torch.float64)
    x, w, b = (t.clone().requires_grad_() for t in (x, w, b))
    assert torch.autograd.gradcheck(lambda *a: ops.local_conv2d(*a, st, pad, dil), (x, w, b))


def test_empty_batch_gives_empty_output():
    x, w, b, st, pad, dil = make(CASES[0])
    out = ops.local_conv2d(x[:0], w, b, st, pad, dil)
    assert out.shape == (0, w.shape[2], w.shape[0], w.shape[1])


def test_nan_propagates_like_torch():
    x, w, b, st, pad, dil = make(CASES[0])
    x[0, 0, 0, 0] = float("nan")
    out = ops.local_conv2d(x, w, b, st, pad, dil)
    assert out[0, :, 0, 0].isnan().all() and not out[1].isnan().any()


@pytest.mark.parametrize("mutate, error, match", [
    (lambda x, w, b: (x[0], w, b), ValueError, "4-D input"),
    (lambda x, w, b: (x, w[0], b), ValueError, "6-D"),
    (lambda x, w, b: (x, w[:-1], b), ValueError, "output"),
    (lambda x, w, b: (x, w, b[:, :-1]), ValueError, "bias must have shape"),
    (lambda x, w, b: (x, w.double(), b), TypeError, "one dtype"),
    (lambda x, w, b: (x.int(), w, b), TypeError, "floating-point"),
    (lambda x, w, b: (x[:, :2], w, b), ValueError, "channels"),
])
def test_bad_inputs(mutate, error, match):
    x, w, b, st, pad, dil = make(CASES[0])
    with pytest.raises(error, match=match):
        ops.local_conv2d(*mutate(x, w, b), st, pad, dil)


def test_bad_hyper_parameters():
    x, w, b, *_ = make(CASES[0])
    with pytest.raises(ValueError, match="stride"):
        ops.local_conv2d(x, w, b, stride=0)
    with pytest.raises(ValueError, match="padding"):
        ops.local_conv2d(x, w, b, padding="same")
    with pytest.raises(ValueError, match="padding"):
        ops.local_conv2d(x, w, b, padding=-1)


def test_cuda_backend_refuses_cpu_tensors_with_a_reason():
    # an explicit request that cannot run must say why, never fall back
    x, w, b, st, pad, dil = make(CASES[0])
    with pytest.raises(convkernels.BackendUnavailableError, match="cuda"):
        ops.local_conv2d(x, w, b, st, pad, dil, backend="cu" + "da")


def test_module_parameters_and_forward():
    lc = convkernels.nn.LocallyConnected2d(16, 16, (25, 25), 9, backend="torch")
    assert lc.weight.shape == (17, 17, 16, 16, 9, 9) and lc.bias.shape == (16, 17, 17)
    assert set(lc.state_dict()) == {"weight", "bias"}
    x = torch.randn(1, 16, 25, 25)
    torch.testing.assert_close(
        lc(x).double(), loop_reference(x, lc.weight.detach(), lc.bias.detach(), (1, 1), (0, 0),
                                       (1, 1)), rtol=1e-5, atol=1e-5)
    assert "input_size=(25, 25)" in repr(lc) and "backend='torch'" in repr(lc)
    with pytest.raises(ValueError, match="empty output"):
        convkernels.nn.LocallyConnected2d(1, 1, (3, 3), 5)


def test_cuda_op_schema_and_fake_kernel_without_a_gpu():
    """With the extension built, cuda_local_conv2d traces on fake CUDA tensors even here."""
    if not hasattr(torch.ops.convkernels, "cuda_local_conv2d"):
        pytest.skip("extension not built (or built before local_conv): "
                    + convkernels._extension.load()[1])
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        x = torch.empty(2, 8, 9, 9, device="cu" + "da", dtype=torch.float16).contiguous(
            memory_format=torch.channels_last)
        w = torch.empty(5, 5, 16, 8, 3, 3, device="cu" + "da", dtype=torch.float16)
        b = torch.empty(16, 5, 5, device="cu" + "da", dtype=torch.float16)
        out = torch.ops.convkernels.cuda_local_conv2d(x, w, b, [2, 2], [1, 1], [1, 1])
    assert out.shape == (2, 16, 5, 5) and out.is_contiguous(memory_format=torch.channels_last)


def test_compile_fullgraph_traces_the_op():
    x, w, b, st, pad, dil = make(CASES[0])
    w.requires_grad_()

    def f(x, w):
        return ops.local_conv2d(x, w, b, st, pad, dil).relu()

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x, w), f(x, w))
    compiled(x, w).sum().backward()
    assert w.grad is not None
