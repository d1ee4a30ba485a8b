"""Operator registration: opcheck, fake kernels, autograd formulas, torch.compile tracing."""

import pytest
import torch
from torch import Tensor

import convkernels
from convkernels import _library, ops, reference
from convkernels._layout import output_memory_format
from convkernels.ops import conv_primitives
from harness import HAS_CUDA, backend_params

# ---- the backward formulas, checked exactly in float64 --------------------------------------
# The cuda_*/triton_* twins share these formulas; a float64 twin on the reference forward lets
# gradcheck verify them to float64 precision on any machine.

@torch.library.custom_op("convkernels_test::ref_conv2d_fused", mutates_args=())
def ref_conv2d_fused(input: Tensor, weight: Tensor, scale: Tensor | None, shift: Tensor | None,
                     residual: Tensor | None, stride: list[int], padding: list[int],
                     dilation: list[int], groups: int, relu: bool) -> Tensor:
    return reference.conv2d_fused(input, weight, scale, shift, residual, stride, padding,
                                  dilation, groups, relu)


@torch.library.custom_op("convkernels_test::ref_channel_moments", mutates_args=())
def ref_channel_moments(input: Tensor) -> tuple[Tensor, Tensor]:
    return reference.channel_moments(input)


@torch.library.custom_op("convkernels_test::ref_scale_shift_relu", mutates_args=())
def ref_scale_shift_relu(input: Tensor, scale: Tensor, shift: Tensor, residual: Tensor | None,
                         relu: bool) -> Tensor:
    return reference.scale_shift_relu(input, scale, shift, residual, relu)


for _p in conv_primitives.PRIMITIVES:
    torch.library.register_fake(f"convkernels_test::ref_{_p}")(conv_primitives.FAKES[_p])
    _bwd, _setup = conv_primitives.FORMULAS[_p]
    torch.library.register_autograd(f"convkernels_test::ref_{_p}", _bwd, setup_context=_setup)


def _d(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 0, 1), (1, 2, 2)])
def test_conv2d_fused_backward_formula_gradcheck(relu, stride, padding, dilation):
    x, w = _d(2, 3, 6, 5), _d(4, 3, 3, 3, seed=1)
    scale, shift = _d(4, seed=2), _d(4, seed=3)
    P = (6 + 2 * padding - dilation * 2 - 1) // stride + 1
    Q = (5 + 2 * padding - dilation * 2 - 1) // stride + 1
    res = _d(2, 4, P, Q, seed=4)
    # shift away from 0 so ReLU's kink is not hit by finite differences
    fn = lambda *a: ref_conv2d_fused(*a, [stride] * 2, [padding] * 2, [dilation] * 2, 1, relu)
    assert torch.autograd.gradcheck(fn, (x, w, scale, shift, res))


def test_channel_moments_backward_formula_gradcheck():
    assert torch.autograd.gradcheck(ref_channel_moments, (_d(3, 4, 2, 3),))


@pytest.mark.parametrize("relu", [False, True])
def test_scale_shift_relu_backward_formula_gradcheck(relu):
    args = (_d(2, 3, 4, 4), _d(3, seed=1), _d(3, seed=2), _d(2, 3, 4, 4, seed=3))
    assert torch.autograd.gradcheck(lambda *a: ref_scale_shift_relu(*a, relu), args)


def test_reference_twins_pass_opcheck():
    x, w = _d(2, 3, 6, 5).detach(), _d(4, 3, 3, 3).detach()
    torch.library.opcheck(ref_conv2d_fused, (x, w, torch.rand(4, dtype=torch.float64), None,
                                             None, [1, 1], [1, 1], [1, 1], 1, True))


# ---- the real custom ops ----------------------------------------------------------------------

def _primitive_samples(device, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, generator=g).to(device, dtype)
    w = torch.randn(4, 3, 3, 3, generator=g).to(device, dtype)
    s, t = torch.rand(4).to(device) + 0.5, torch.randn(4).to(device)
    y = torch.randn(2, 4, 5, 6, generator=g).to(device, dtype)
    cl = x.contiguous(memory_format=torch.channels_last)
    return {
        "conv2d_fused": [
            (x, w, s, t, None, [1, 1], [1, 1], [1, 1], 1, True),
            (cl, w, None, t, y.contiguous(memory_format=torch.channels_last), [1, 1], [1, 1],
             [1, 1], 1, False),
            (x, w, None, None, None, [2, 2], [0, 0], [1, 1], 1, False),
        ],
        "channel_moments": [(y,), (y.contiguous(memory_format=torch.channels_last),)],
        "scale_shift_relu": [(y, s, t, None, True), (y, s, t, y.clone(), False)],
    }


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
@pytest.mark.parametrize("primitive", conv_primitives.PRIMITIVES)
def test_opcheck_kernel_ops(backend, device, primitive):
    op = _library.op(backend, primitive)
    for args in _primitive_samples(device)[primitive]:
        grad_args = tuple(a.clone().requires_grad_() if isinstance(a, torch.Tensor)
                          and a.is_floating_point() else a for a in args)
        torch.library.opcheck(op, grad_args)


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
def test_fake_strides_equal_real_strides(backend, device):
    from torch._subclasses.fake_tensor import FakeTensorMode
    for primitive, samples in _primitive_samples(device).items():
        op = _library.op(backend, primitive)
        for args in samples:
            real = op(*args)
            with FakeTensorMode() as mode:
                fake_args = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a
                             for a in args]
                fake = op(*fake_args)
            for r, f in zip(*(o if isinstance(o, tuple) else (o,) for o in (real, fake))):
                assert (r.shape, r.stride(), r.dtype) == (f.shape, f.stride(), f.dtype), primitive


def _ambiguous_layout_inputs(device):
    """Inputs whose memory format is ambiguous or unusual."""
    g = torch.Generator().manual_seed(1)
    shapes = [(2, 1, 5, 5), (2, 4, 1, 1), (1, 1, 1, 1), (3, 4, 1, 6)]
    for shape in shapes:
        x = torch.randn(shape, generator=g).to(device)
        yield f"{shape}-nchw", x
        yield f"{shape}-channels_last", x.contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 6, 5, 4, generator=g).to(device)
    yield "permuted-nhcw", x.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)
    yield "sliced", x[:, ::2, 1:, :]


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
def test_fake_strides_equal_real_strides_for_ambiguous_layouts(backend, device):
    from torch._subclasses.fake_tensor import FakeTensorMode
    conv = _library.op(backend, "conv2d_fused")
    ssr = _library.op(backend, "scale_shift_relu")
    for name, x in _ambiguous_layout_inputs(device):
        C = x.shape[1]
        w = torch.randn(C, C, 1, 1, device=device)
        s, t = torch.ones(C, device=device), torch.zeros(C, device=device)
        for op, args in ((conv, (x, w, None, None, None, [1, 1], [0, 0], [1, 1], 1, False)),
                         (ssr, (x, s, t, None, True))):
            real = op(*args)
            with FakeTensorMode() as mode:
                fake = op(*[mode.from_tensor(a) if isinstance(a, torch.Tensor) else a
                            for a in args])
            assert (real.shape, real.stride()) == (fake.shape, fake.stride()), name
            assert real.is_contiguous(memory_format=output_memory_format(x)), name


def test_fake_kernels_exist_for_cuda_ops_without_a_gpu():
    """With the extension built, the cuda_* ops trace on fake CUDA tensors even here."""
    if not convkernels._extension.load()[0]:
        pytest.skip("extension not built: " + convkernels._extension.load()[1])
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        x = torch.empty(2, 8, 9, 9, device="cuda", dtype=torch.float16).contiguous(
            memory_format=torch.channels_last)
        w = torch.empty(16, 8, 3, 3, device="cuda", dtype=torch.float16)
        out = torch.ops.convkernels.cuda_conv2d_fused(x, w, None, None, None, [2, 2], [1, 1],
                                                      [1, 1], 1, True)
        assert out.shape == (2, 16, 5, 5) and out.is_contiguous(memory_format=torch.channels_last)
        mean, var = torch.ops.convkernels.cuda_channel_moments(out)
        assert mean.shape == (16,) and var.dtype == torch.float32


@pytest.mark.parametrize("backend,device", backend_params())
def test_compile_fullgraph_ops(backend, device):
    x = torch.randn(2, 3, 6, 6, device=device)
    w = torch.randn(4, 3, 3, 3, device=device, requires_grad=True)
    b, rm, rv = torch.randn(4, device=device), torch.zeros(4, device=device), \
        torch.ones(4, device=device)

    def f(x, w):
        y = ops.conv2d(x, w, b, padding=1, backend=backend)
        return ops.fused_conv_bn_relu(x, w, b, rm, rv, None, None, padding=1, training=False,
                                      backend=backend) + y

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x, w), f(x, w))
    compiled(x, w).sum().backward()
    assert w.grad is not None


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("training", [True, False])
def test_compile_fullgraph_module(backend, device, training):
    m = convkernels.nn.ConvBNReLU2d(3, 4, 3, padding=1, backend=backend).to(device)
    m.train(training)
    ref = convkernels.nn.ConvBNReLU2d(3, 4, 3, padding=1, backend=backend).to(device)
    ref.load_state_dict(m.state_dict())
    ref.train(training)
    x = torch.randn(2, 3, 6, 6, device=device)
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), ref(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m.bn.running_mean, ref.bn.running_mean)


@pytest.mark.slow
@pytest.mark.skipif(HAS_CUDA, reason="the GPU run compiles with inductor in test_cuda")
def test_compile_inductor_cpu_torch_backend():
    m = convkernels.nn.ConvBNReLU2d(3, 4, 3, padding=1, backend="torch").eval()
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(torch.compile(m, fullgraph=True)(x), m(x))
