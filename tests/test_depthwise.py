"""Depthwise and separable convolution: ops.depthwise_conv2d / conv2d(groups=C), our depthwise
backward kernels (input and weight gradients, deterministic), ops.separable_conv2d and
nn.SeparableConv2d, against torch.nn.functional on every backend."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import _library, ops
from harness import HAS_CUDA, assert_within_rule, backend_params, layouts, requires_triton

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@dataclass(frozen=True)
class DepthwiseCase:
    name: str
    N: int
    C: int
    H: int
    W: int
    k: int
    mult: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    k_w: int = 0  # non-square kernels: width (0 = k)

    def tensors(self, dtype=torch.float32, device="cpu", seed=0):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(self.N, self.C, self.H, self.W, generator=g, dtype=torch.float64)
        w = torch.randn(self.C * self.mult, 1, self.k, self.k_w or self.k, generator=g,
                        dtype=torch.float64) / self.k
        b = torch.randn(self.C * self.mult, generator=g, dtype=torch.float64)
        return x.to(device, dtype), w.to(device, dtype), b.to(device, dtype)

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation)


# 3/5/7 are the specialized kernel sizes; 4 and 2x3 take the generic path.
SMALL = [
    DepthwiseCase("3x3", 2, 8, 7, 6, 3, padding=1),
    DepthwiseCase("3x3-s2", 1, 8, 9, 8, 3, stride=2, padding=1),
    DepthwiseCase("3x3-mult2", 1, 4, 6, 7, 3, mult=2, padding=1),
    DepthwiseCase("5x5-mult2-s2", 1, 4, 9, 9, 5, mult=2, stride=2, padding=2),
    DepthwiseCase("7x7", 1, 3, 9, 8, 7, padding=3),
    DepthwiseCase("3x3-dilated", 1, 5, 9, 9, 3, padding=2, dilation=2),
    DepthwiseCase("4x4-generic", 2, 3, 7, 7, 4, padding=1),
    DepthwiseCase("2x3-generic-no-pad", 1, 6, 5, 6, 2, k_w=3),
]

# MobileNet / Xception-like at batch 1, GPU only.
REAL = [
    DepthwiseCase("mobilenet-112x32", 1, 32, 112, 112, 3, padding=1),
    DepthwiseCase("mobilenet-112x64-s2", 1, 64, 112, 112, 3, stride=2, padding=1),
    DepthwiseCase("mobilenet-7x1024", 1, 1024, 7, 7, 3, padding=1),
    DepthwiseCase("xception-middle-19x728", 1, 728, 19, 19, 3, padding=1),
    DepthwiseCase("efficientnet-5x5-s2", 1, 240, 28, 28, 5, stride=2, padding=2),
]


def _forward(case, backend, device, dtype, layout="nchw", with_bias=True, via_conv2d=False):
    x, w, b = case.tensors(dtype, device)
    x = dict(layouts(x))[layout]
    b = b if with_bias else None
    if via_conv2d:
        ours = ops.conv2d(x, w, b, **case.kwargs(), groups=case.C, backend=backend)
    else:
        ours = ops.depthwise_conv2d(x, w, b, **case.kwargs(), backend=backend)
    kw = dict(case.kwargs(), groups=case.C)
    same = F.conv2d(x, w, b, **kw)
    ref = F.conv2d(x.double(), w.double(), None if b is None else b.double(), **kw)
    assert_within_rule(ours, same, ref, what=f"{case.name}/{backend}/{dtype}/{layout}")
    return ours, x


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("case", SMALL, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_depthwise_forward(backend, device, case, dtype):
    _forward(case, backend, device, dtype)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("layout", ["channels_last", "sliced", "permuted", "misaligned"])
@pytest.mark.parametrize("case", [SMALL[0], SMALL[3]], ids=lambda c: c.name)
def test_depthwise_layouts(backend, device, layout, case):
    out, x = _forward(case, backend, device, torch.float32, layout=layout)
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert out.is_contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)


@pytest.mark.parametrize("backend,device", backend_params())
def test_conv2d_groups_equal_c_is_depthwise(backend, device):
    _forward(SMALL[2], backend, device, torch.float32, via_conv2d=True, with_bias=False)


def _grads(case, backend, device, dtype, layout):
    """(ours, torch same dtype, float64 reference) input and weight gradients."""
    x, w, _ = case.tensors(dtype, device)
    x = dict(layouts(x))[layout]
    kw = dict(case.kwargs(), groups=case.C)
    go = torch.randn(F.conv2d(x, w, **kw).shape, generator=torch.Generator().manual_seed(3),
                     dtype=torch.float64).to(device)
    out = []
    for fn, cast in ((lambda a, b: ops.depthwise_conv2d(a, b, **case.kwargs(), backend=backend),
                      dtype),
                     (lambda a, b: F.conv2d(a, b, **kw), dtype),
                     (lambda a, b: F.conv2d(a, b, **kw), torch.float64)):
        a = x.detach().to(cast).requires_grad_()
        b = w.detach().to(cast).requires_grad_()
        out.append(torch.autograd.grad(fn(a, b), (a, b), go.to(cast)))
    return out


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
@pytest.mark.parametrize("case", SMALL, ids=lambda c: c.name)
def test_depthwise_backward_kernels(backend, device, case):
    """Our input-grad and weight-grad kernels vs float64, within 2x torch's own error."""
    ours, same, ref = _grads(case, backend, device, torch.float32, "nchw")
    for i, what in enumerate(("grad_input", "grad_weight")):
        assert_within_rule(ours[i], same[i], ref[i], what=f"{case.name}/{backend}/{what}")


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_depthwise_backward_dtypes_layouts(backend, device, dtype, layout):
    ours, same, ref = _grads(SMALL[3], backend, device, dtype, layout)
    for i, what in enumerate(("grad_input", "grad_weight")):
        assert_within_rule(ours[i], same[i], ref[i], what=f"{backend}/{dtype}/{layout}/{what}")
    if layout == "channels_last":  # grad_input follows the input's memory format
        assert ours[0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
def test_depthwise_backward_uses_our_kernels(backend, device, monkeypatch):
    """The conv2d_fused formula dispatches depthwise to the backend's own backward ops."""
    called = []
    ops_ns = torch.ops.convkernels
    for name in ("depthwise_backward_input", "depthwise_backward_weight"):
        real = getattr(ops_ns, f"{backend}_{name}").default
        monkeypatch.setattr(
            getattr(ops_ns, f"{backend}_{name}"), "default",
            lambda *a, _r=real, _n=name: called.append(_n) or _r(*a))
    x, w, _ = SMALL[0].tensors(torch.float32, device)
    x.requires_grad_()
    w.requires_grad_()
    ops.depthwise_conv2d(x, w, padding=1, backend=backend).sum().backward()
    assert called == ["depthwise_backward_input", "depthwise_backward_weight"]


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
def test_weight_grad_is_deterministic(backend, device, monkeypatch):
    """Several chunks in the two-stage reduction; two runs give the same bits."""
    size = 48  # 2*48*48 output pixels: two chunks of the CUDA kernel's 4096
    if device == "cpu":  # the interpreter is slow: shrink the Triton chunks instead
        from convkernels.triton import depthwise
        monkeypatch.setattr(depthwise, "_PIXELS_PER_CHUNK", 48)
        size = 10
    case = DepthwiseCase("chunks", 2, 3, size, size, 3, padding=1)
    x, w, _ = case.tensors(torch.float32, device)
    go = torch.randn(2, 3, size, size, device=device)
    grads = [_library.op(backend, "depthwise_backward_weight")(go, x, w, [1, 1], [1, 1], [1, 1])
             for _ in range(2)]
    assert torch.equal(grads[0], grads[1])
    ref = torch.ops.aten.convolution_backward(go.double(), x.double(), w.double(), None, [1, 1],
                                              [1, 1], [1, 1], False, [0, 0], 3,
                                              [False, True, False])[1]
    torch.testing.assert_close(grads[0].double(), ref, rtol=1e-5, atol=1e-4)


@requires_triton()
def test_triton_backward_primitives_opcheck():
    x, w, _ = SMALL[3].tensors(torch.float32)
    go = torch.randn(1, 8, 5, 5)
    for name in ("depthwise_backward_input", "depthwise_backward_weight"):
        torch.library.opcheck(_library.op("triton", name), (go, x, w, [2, 2], [2, 2], [1, 1]),
                              test_utils=("test_schema", "test_faketensor"))


# ---- separable ---------------------------------------------------------------------------------

def _separable_inputs(dtype=torch.float32, device="cpu", C=8, mult=1, K=12):
    g = torch.Generator().manual_seed(11)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    x = mk(2, C, 7, 6)
    dw, pw = mk(C * mult, 1, 3, 3) / 3, mk(K, C * mult, 1, 1) / (C * mult) ** 0.5
    vecs = dict(depthwise_bias=mk(C * mult), pointwise_bias=mk(K), mid_scale=mk(C * mult).abs(),
                mid_shift=mk(C * mult), scale=mk(K).abs(), shift=mk(K))
    cast = lambda t, dt: t.to(device, dt)  # noqa: E731
    return x, dw, pw, vecs, cast


def _separable_torch(x, dw, pw, v, stride, padding, mid_relu, relu):
    mid = F.conv2d(x, dw, v["depthwise_bias"], stride, padding, groups=x.shape[1])
    mid = mid * v["mid_scale"].view(1, -1, 1, 1) + v["mid_shift"].view(1, -1, 1, 1)
    mid = torch.relu(mid) if mid_relu else mid
    out = F.conv2d(mid, pw, v["pointwise_bias"])
    out = out * v["scale"].view(1, -1, 1, 1) + v["shift"].view(1, -1, 1, 1)
    return torch.relu(out) if relu else out


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("stride,mult", [(1, 1), (2, 2)])
def test_separable_conv2d(backend, device, dtype, stride, mult):
    x, dw, pw, v, cast = _separable_inputs(device=device, mult=mult)
    vs = {k: cast(t, torch.float32 if k.endswith(("scale", "shift")) else dtype)
          for k, t in v.items()}
    ours = ops.separable_conv2d(cast(x, dtype), cast(dw, dtype), cast(pw, dtype),
                                stride=stride, padding=1, mid_relu=True, relu=True, **vs,
                                backend=backend)
    ref = _separable_torch(cast(x, torch.float64), cast(dw, torch.float64),
                           cast(pw, torch.float64), {k: cast(t, torch.float64)
                                                     for k, t in v.items()},
                           stride, 1, True, True)
    # torch in the same dtype with the same rounding points: the mid tensor rounded once.
    same = _separable_torch(cast(x, dtype), cast(dw, dtype), cast(pw, dtype),
                            {k: cast(t, dtype) for k, t in v.items()}, stride, 1, True, True)
    assert_within_rule(ours, same, ref, what=f"separable {backend}/{dtype}")


@pytest.mark.parametrize("backend,device", backend_params())
def test_separable_gradients_flow(backend, device):
    x, dw, pw, v, cast = _separable_inputs(device=device)
    leaves = [cast(t, torch.float32).requires_grad_() for t in (x, dw, pw)]
    out = ops.separable_conv2d(*leaves, padding=1, relu=False, backend=backend)
    grads = torch.autograd.grad(out.square().sum(), leaves)
    refs = [cast(t, torch.float64).requires_grad_() for t in (x, dw, pw)]
    mid = F.conv2d(refs[0], refs[1], padding=1, groups=8)
    ref_grads = torch.autograd.grad(F.conv2d(mid, refs[2]).square().sum(), refs)
    for ours, ref in zip(grads, ref_grads):
        torch.testing.assert_close(ours.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend,device", backend_params())
def test_separable_module_matches_torch_modules(backend, device):
    torch.manual_seed(0)
    sep = convkernels.nn.SeparableConv2d(6, 10, 3, stride=2, padding=1, bias=True,
                                         depth_multiplier=2, backend=backend).to(device)
    assert set(sep.state_dict()) == {"depthwise.weight", "depthwise.bias", "pointwise.weight",
                                     "pointwise.bias"}
    assert sep.depthwise.weight.shape == (12, 1, 3, 3)
    assert sep.pointwise.weight.shape == (10, 12, 1, 1)
    x = torch.randn(2, 6, 9, 9, device=device)
    expect = sep.pointwise(sep.depthwise(x))
    torch.testing.assert_close(sep(x), expect, rtol=1e-5, atol=1e-5)
    assert "backend=" in repr(sep)


# ---- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("w_shape,match", [
    ((8, 2, 3, 3), r"depthwise weight must have shape \[multiplier \* C, 1, kH, kW\]"),
    ((6, 1, 3, 3), r"depthwise weight must have shape .* C=4"),
    ((8, 1, 3), r"expected weight to be 4-D"),
])
def test_depthwise_bad_weight(backend, device, w_shape, match):
    x = torch.randn(1, 4, 5, 5, device=device)
    with pytest.raises(ValueError, match=match):
        ops.depthwise_conv2d(x, torch.randn(w_shape, device=device), backend=backend)


@pytest.mark.parametrize("backend,device", backend_params())
def test_separable_bad_pointwise(backend, device):
    x, dw = torch.randn(1, 4, 5, 5, device=device), torch.randn(4, 1, 3, 3, device=device)
    with pytest.raises(ValueError, match=r"pointwise_weight must have shape \[out_channels, 4,"):
        ops.separable_conv2d(x, dw, torch.randn(6, 5, 1, 1, device=device), backend=backend)
    with pytest.raises(ValueError, match=r"mid_scale must have shape \[4\]"):
        ops.separable_conv2d(x, dw, torch.randn(6, 4, 1, 1, device=device),
                             mid_scale=torch.ones(3, device=device), backend=backend)
    with pytest.raises(TypeError, match="pointwise_weight dtype"):
        ops.separable_conv2d(x, dw, torch.randn(6, 4, 1, 1, device=device).half(),
                             backend=backend)


@pytest.mark.parametrize("backend,device", backend_params())
def test_depthwise_empty_batch(backend, device):
    x, w, _ = SMALL[0].tensors(torch.float32, device)
    assert ops.depthwise_conv2d(x[:0], w, padding=1, backend=backend).shape == (0, 8, 7, 6)


@pytest.mark.parametrize("backend,device", backend_params())
def test_depthwise_nan_propagates(backend, device):
    x, w, _ = SMALL[0].tensors(torch.float32, device)
    x[0, 2, 3, 3] = float("nan")
    out = ops.depthwise_conv2d(x, w, padding=1, backend=backend)
    ref = F.conv2d(x, w, padding=1, groups=8)
    assert torch.equal(out.isnan(), ref.isnan())


@requires_triton()
def test_triton_int64_path_forced():
    """The 64-bit offset variant of the depthwise kernel, on a small input."""
    from convkernels.triton import depthwise_grouped
    x, w, _ = SMALL[1].tensors(torch.float32)
    out = depthwise_grouped.conv2d_grouped(x, w, None, None, None, [2, 2], [1, 1], [1, 1], 8,
                                           False, index64=True)
    torch.testing.assert_close(out, F.conv2d(x, w, stride=2, padding=1, groups=8))


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")
@pytest.mark.parametrize("backend", ["cuda", "triton"])
@pytest.mark.parametrize("case", REAL, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.slow  # 10-50 s each on the H200 (Triton compile): out of make gpu-check
def test_real_depthwise_layers_gpu(backend, case, dtype, layout):
    _forward(case, backend, "cuda", dtype, layout=layout)
    ours, same, ref = _grads(case, backend, "cuda", dtype, layout)
    for i, what in enumerate(("grad_input", "grad_weight")):
        assert_within_rule(ours[i], same[i], ref[i], what=f"{case.name}/{what}")


@requires_triton()
@pytest.mark.parametrize("needs_grad", [False, True])
def test_triton_separable_fuses_only_without_grad(needs_grad, monkeypatch):
    """Inference takes the one-kernel path (mid kept on chip); training the two launches."""
    from convkernels.triton import depthwise_separable
    calls = []
    real = depthwise_separable.separable_conv2d_fused
    monkeypatch.setattr(depthwise_separable, "separable_conv2d_fused",
                        lambda *a: calls.append(1) or real(*a))
    x, dw, pw, _, cast = _separable_inputs()
    x, dw, pw = (cast(t, torch.float32).requires_grad_(needs_grad) for t in (x, dw, pw))
    out = ops.separable_conv2d(x, dw, pw, padding=1, relu=True, backend="triton")
    assert len(calls) == (0 if needs_grad else 1)
    assert out.requires_grad == needs_grad
    ref = torch.relu(F.conv2d(F.conv2d(x, dw, padding=1, groups=8), pw))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@requires_triton()
def test_triton_separable_primitive_opcheck():
    x, dw, pw, v, cast = _separable_inputs()
    args = (cast(x, torch.float32), cast(dw, torch.float32), cast(pw, torch.float32),
            cast(v["mid_scale"], torch.float32), None, True, None,
            cast(v["shift"], torch.float32), False, [2, 2], [1, 1], [1, 1])
    torch.library.opcheck(_library.op("triton", "separable_conv2d_fused"), args,
                          test_utils=("test_schema", "test_faketensor"))


def test_separable_float64_keeps_float64_epilogue_parameters():
    """Biases, scales and shifts follow a float64 input (no rounding to float32), so the
    result equals torch's float64 composition and gradcheck holds for every vector."""
    x, dw, pw, v, cast = _separable_inputs(C=3, K=4)
    x, dw, pw = (cast(t, torch.float64) for t in (x, dw, pw))
    v = {k: cast(t, torch.float64) for k, t in v.items()}
    ours = ops.separable_conv2d(x, dw, pw, padding=1, mid_relu=True, relu=True, **v,
                                backend="torch")
    torch.testing.assert_close(ours, _separable_torch(x, dw, pw, v, 1, 1, True, True),
                               rtol=1e-13, atol=1e-13)
    names = list(v)

    def separable(*vectors):
        return ops.separable_conv2d(x, dw, pw, padding=1, **dict(zip(names, vectors)),
                                    backend="torch")
    assert torch.autograd.gradcheck(separable, [v[k].clone().requires_grad_() for k in names])
