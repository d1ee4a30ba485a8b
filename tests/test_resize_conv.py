"""ops.resize_conv2d (nearest phase fold, bilinear fused loads) against
F.conv2d(F.interpolate(...)), every backend; the fold, the backward formulas, registration,
bad inputs, nn.ResizeConv2d and the checkerboard property."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import convkernels
from convkernels import ops
from convkernels.bench import resize_conv_artifacts as artifacts
from convkernels.nn import ResizeConv2d
from convkernels.ops import resize_conv_primitives
from convkernels.reference import resize_conv as ref
from harness import assert_within_rule, backend_params, layouts, requires_triton

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@dataclass(frozen=True)
class ResizeCase:
    name: str
    N: int
    C: int
    H: int
    W: int
    K: int
    k: int
    scale: int = 2
    padding: int = 1
    stride: int = 1

    def tensors(self, dtype=torch.float32, device="cpu", seed=0):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(self.N, self.C, self.H, self.W, generator=g, dtype=torch.float64)
        w = torch.randn(self.K, self.C, self.k, self.k, generator=g, dtype=torch.float64)
        w /= (self.C * self.k * self.k) ** 0.5
        b = torch.randn(self.K, generator=g, dtype=torch.float64)
        return x.to(device, dtype), w.to(device, dtype), b.to(device, dtype)

    def kwargs(self):
        return dict(scale_factor=self.scale, padding=self.padding, stride=self.stride)


# Odd sizes, 1x1 inputs, C not a multiple of 8, kernels 1/3/5 (and an even 2), scales 1-4,
# paddings 0..k-1, strides 1/2/3 on the high-res grid (stride 2 = scale keeps one phase).
CASES = [
    ResizeCase("x2-3x3", 2, 5, 4, 3, 6, 3),
    ResizeCase("x2-3x3-pad0", 1, 3, 5, 4, 4, 3, padding=0),
    ResizeCase("x4-3x3", 1, 4, 3, 2, 5, 3, scale=4),
    ResizeCase("x3-5x5-pad2", 1, 3, 3, 4, 3, 5, scale=3, padding=2),
    ResizeCase("x2-1x1", 2, 8, 3, 3, 4, 1, padding=0),
    ResizeCase("x2-3x3-stride2", 1, 4, 5, 4, 3, 3, stride=2),
    ResizeCase("x3-3x3-stride2", 1, 3, 4, 3, 4, 3, scale=3, stride=2),
    ResizeCase("x1-3x3", 1, 6, 5, 5, 3, 3, scale=1),
    ResizeCase("x2-on-1x1", 1, 7, 1, 1, 5, 3),
    ResizeCase("x2-2x2-even", 1, 3, 4, 4, 3, 2, padding=0),
    ResizeCase("x4-5x5-pad4-stride3", 1, 2, 3, 3, 3, 5, scale=4, padding=4, stride=3),
]
# C a multiple of 8: the shapes the CUDA nearest kernel runs on tensor cores (channels_last).
TC_CASES = [ResizeCase("x2-3x3-c16", 2, 16, 5, 4, 8, 3),
            ResizeCase("x3-3x3-s2-c8", 1, 8, 3, 4, 12, 3, scale=3, stride=2)]
MODES = [("nearest", False), ("bilinear", False), ("bilinear", True)]
MODE_IDS = ["nearest", "bilinear", "bilinear-ac"]


def _eager(x, w, b, case, mode, align_corners):
    up = F.interpolate(x, scale_factor=case.scale, mode=mode,
                       align_corners=align_corners if mode == "bilinear" else None)
    return F.conv2d(up, w, b, stride=case.stride, padding=case.padding)


def _check(case, backend, device, dtype, mode, align_corners, layout="nchw", bias=True):
    x, w, b = case.tensors(dtype, device)
    x = dict(layouts(x))[layout]
    b = b if bias else None
    ours = ops.resize_conv2d(x, w, b, mode=mode, align_corners=align_corners,
                             backend=backend, **case.kwargs())
    same = _eager(x, w, b, case, mode, align_corners)
    ref64 = _eager(x.double(), w.double(), None if b is None else b.double(), case, mode,
                   align_corners)
    assert_within_rule(ours, same, ref64,
                       what=f"{case.name}/{mode}/{backend}/{dtype}/{layout}")
    return ours, x


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_interpolate_then_conv(backend, device, mode, case):
    _check(case, backend, device, torch.float32, mode, False)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[7], CASES[10]], ids=lambda c: c.name)
def test_bilinear_align_corners(backend, device, case):
    _check(case, backend, device, torch.float32, "bilinear", True)


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
@pytest.mark.parametrize("mode,align_corners", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("dtype", DTYPES[1:], ids=str)
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[6]], ids=lambda c: c.name)
def test_half_precision_within_rule(backend, device, mode, align_corners, dtype, case):
    # nearest also rounds the folded (summed) weights to the dtype once; the rule holds
    # because that rounding is of the size of the one F.conv2d's output rounding adds.
    _check(case, backend, device, dtype, mode, align_corners)


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("dtype", DTYPES[1:], ids=str)
@pytest.mark.parametrize("case", TC_CASES, ids=lambda c: c.name)
def test_tensor_core_shapes_channels_last(backend, device, mode, dtype, case):
    _check(case, backend, device, dtype, mode, False, layout="channels_last")


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "sliced", "permuted", "misaligned"])
def test_layouts_and_output_format(backend, device, mode, layout):
    out, x = _check(CASES[0], backend, device, torch.float32, mode, False, layout=layout)
    expect_cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert out.is_contiguous(memory_format=torch.channels_last if expect_cl
                             else torch.contiguous_format)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_without_bias(backend, device, mode):
    _check(CASES[1], backend, device, torch.float32, mode, False, bias=False)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_bn_relu_epilogue(backend, device, mode):
    case = CASES[0]
    x, w, b = case.tensors(torch.float32, device)
    bn = torch.nn.BatchNorm2d(case.K).eval().to(device)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    scale, shift = ops.fold_batch_norm(b, bn.running_mean, bn.running_var, bn.weight, bn.bias)
    ours = ops.resize_conv2d_affine(x, w, scale, shift, mode=mode, relu=True, backend=backend,
                                    **case.kwargs())
    with torch.no_grad():
        same = torch.relu(bn(_eager(x, w, b, case, mode, False)))
        ref64 = torch.relu(bn.double()(_eager(x.double(), w.double(), b.double(), case, mode,
                                              False)))
    assert_within_rule(ours, same, ref64, what=f"bn-relu/{mode}/{backend}")


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_gradients_match_the_composite(backend, device, mode):
    case = CASES[5]
    x, w, b = (t.requires_grad_() for t in case.tensors(torch.float32, device))
    grad = torch.randn(1, case.K, 5, 4, generator=torch.Generator().manual_seed(9)).to(device)
    ours = ops.resize_conv2d(x, w, b, mode=mode, backend=backend, **case.kwargs())
    ours_grads = torch.autograd.grad(ours, (x, w, b), grad)
    eager_grads = torch.autograd.grad(_eager(x, w, b, case, mode, False), (x, w, b), grad)
    for name, a, e in zip("xwb", ours_grads, eager_grads):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-5, msg=f"grad {name}")


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_empty_batch_gives_empty_output(backend, device, mode):
    x = torch.randn(0, 3, 4, 4, device=device)
    out = ops.resize_conv2d(x, torch.randn(5, 3, 3, 3, device=device), mode=mode,
                            backend=backend)
    assert out.shape == (0, 5, 8, 8)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_nan_propagates_like_torch(backend, device, mode):
    x, w, _ = CASES[0].tensors(torch.float32, device)
    x[0, 1, 2, 1] = float("nan")
    ours = ops.resize_conv2d(x, w, mode=mode, backend=backend)
    assert torch.isnan(ours).eq(torch.isnan(_eager(x, w, None, CASES[0], mode, False))).all()


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_infinity_gives_the_non_finite_outputs_torch_gives(backend, device, mode):
    """The same outputs are non-finite as in torch; the folded nearest kernels may give +-inf
    where torch's tap-by-tap sum gives NaN (the intended difference in the docstring), every
    other value matches."""
    x, w, _ = CASES[0].tensors(torch.float32, device)
    x[0, 1, 2, 1] = float("inf")
    ours = ops.resize_conv2d(x, w, mode=mode, backend=backend)
    expected = _eager(x, w, None, CASES[0], mode, False)
    assert torch.equal(ours.isfinite(), expected.isfinite())
    finite = expected.isfinite()
    torch.testing.assert_close(ours[finite], expected[finite], rtol=1e-4, atol=1e-4)
    if backend == "torch" or mode == "bilinear":
        assert torch.equal(ours.isnan(), expected.isnan())


# ---- the phase fold -------------------------------------------------------------------------

@settings(deadline=None, max_examples=15)
@given(scale=st.integers(1, 4), k=st.integers(1, 6), padding=st.integers(0, 4),
       stride=st.integers(1, 4), H=st.integers(1, 5), W=st.integers(1, 5))
def test_folded_formulation_equals_composite_in_float64(scale, k, padding, stride, H, W):
    if scale * min(H, W) + 2 * padding < k:
        return  # no output: F.conv2d refuses too (checked in test_bad_inputs_rejected)
    g = torch.Generator().manual_seed(scale * 1000 + k * 100 + padding * 10 + stride)
    x = torch.randn(2, 3, H, W, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, k, k, generator=g, dtype=torch.float64)
    folded = ref.fold_nearest_weight(w, scale, (padding, padding), (stride, stride))
    ours = ref.nearest_folded_conv2d(x, folded, None, None, scale, (padding, padding),
                                     (stride, stride), (k, k), False)
    expect = ref.resize_conv2d_fused(x, w, None, None, scale, "nearest", (padding, padding),
                                     (stride, stride), False, False)
    torch.testing.assert_close(ours, expect, rtol=1e-12, atol=1e-12)


def test_phase_plan_of_the_common_case():
    # nearest x2 then 3x3 pad 1: four 2x2 phase kernels; phase 0 reads rows i-1, i
    # (taps 0 | 1+2), phase 1 reads rows i, i+1 (taps 0+1 | 2).
    plan = ref.phase_plan(2, 3, 1, 1)
    assert (plan.classes, plan.low_stride, plan.taps) == (2, 1, 2)
    assert plan.first_row == (-1, 0)
    assert plan.tap_of == ((0, 1, 1), (0, 0, 1))
    # stride == scale: one class, every output reads phase 0
    assert ref.phase_plan(2, 3, 1, 2).classes == 1


def test_fold_is_cached_per_weight_version_and_differentiable():
    w = torch.randn(4, 3, 3, 3)
    with torch.no_grad():
        a = ops.fold_nearest_weight(w, 2, 1, 1)
        assert ops.fold_nearest_weight(w, 2, 1, 1) is a
        w.add_(1.0)  # an optimizer step bumps the version: the fold must follow
        b = ops.fold_nearest_weight(w, 2, 1, 1)
    assert b is not a
    torch.testing.assert_close(b, ref.fold_nearest_weight(w, 2, (1, 1), (1, 1)))
    wg = w.clone().requires_grad_()
    ops.fold_nearest_weight(wg, 2, 1, 1).sum().backward()
    # every original tap lands in exactly one folded tap of each of the 4 phases
    torch.testing.assert_close(wg.grad, torch.full_like(w, 4.0))


# ---- backward formulas in float64 via reference twins of the primitives ----------------------

@torch.library.custom_op("convkernels_test::ref_resize_nearest_conv2d_fused", mutates_args=())
def _ref_nearest(input: Tensor, folded_weight: Tensor, scale: Tensor | None,
                 shift: Tensor | None, scale_factor: int, padding: list[int],
                 stride: list[int], kernel_size: list[int], relu: bool) -> Tensor:
    return ref.nearest_folded_conv2d(input, folded_weight, scale, shift, scale_factor, padding,
                                     stride, kernel_size, relu)


@torch.library.custom_op("convkernels_test::ref_resize_bilinear_conv2d_fused", mutates_args=())
def _ref_bilinear(input: Tensor, weight: Tensor, scale: Tensor | None, shift: Tensor | None,
                  scale_factor: int, padding: list[int], stride: list[int],
                  align_corners: bool, relu: bool) -> Tensor:
    return ref.resize_conv2d_fused(input, weight, scale, shift, scale_factor, "bilinear",
                                   padding, stride, align_corners, relu)


for _p in resize_conv_primitives.PRIMITIVES:
    _q = f"convkernels_test::ref_{_p}"
    torch.library.register_fake(_q)(resize_conv_primitives.FAKES[_p])
    _bwd, _setup = resize_conv_primitives.FORMULAS[_p]
    torch.library.register_autograd(_q, _bwd, setup_context=_setup)


def _d(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("scale,k,padding,stride", [(2, 3, 1, 1), (3, 3, 0, 2), (2, 2, 0, 1)])
def test_nearest_backward_formula_gradcheck(relu, scale, k, padding, stride):
    plan = ref.phase_plan(scale, k, padding, stride)
    x = _d(1, 2, 3, 2)
    folded = _d(plan.classes, plan.classes, 2, 2, plan.taps, plan.taps, seed=1)
    sc, sh = _d(2, seed=2), _d(2, seed=3)
    fn = lambda *a: _ref_nearest(*a, scale, [padding] * 2, [stride] * 2, [k, k], relu)  # noqa: E731
    # fast_mode: checks the formula on random projections of the Jacobian (CI budget).
    assert torch.autograd.gradcheck(fn, (x, folded, sc, sh), fast_mode=True)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_backward_formula_gradcheck(relu, align_corners):
    x, w, sc, sh = _d(1, 2, 3, 4), _d(3, 2, 3, 3, seed=1), _d(3, seed=2), _d(3, seed=3)
    fn = lambda *a: _ref_bilinear(*a, 2, [1, 1], [1, 1], align_corners, relu)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w, sc, sh), fast_mode=True)


@requires_triton()
@pytest.mark.triton
def test_triton_primitives_pass_opcheck():
    x, w, _ = CASES[0].tensors()
    folded = ref.fold_nearest_weight(w, 2, (1, 1), (1, 1))
    scale = torch.rand(w.shape[0])
    torch.library.opcheck(torch.ops.convkernels.triton_resize_nearest_conv2d_fused,
                          (x, folded, scale, None, 2, [1, 1], [1, 1], [3, 3], True))
    torch.library.opcheck(torch.ops.convkernels.triton_resize_bilinear_conv2d_fused,
                          (x.contiguous(memory_format=torch.channels_last), w, None, scale, 2,
                           [1, 1], [1, 1], False, False))


@requires_triton()
@pytest.mark.triton
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_compiles_fullgraph(mode):
    x, w, b = CASES[0].tensors()
    fn = torch.compile(lambda x, w, b: ops.resize_conv2d(x, w, b, mode=mode, backend="triton"),
                       fullgraph=True, backend="eager")
    torch.testing.assert_close(fn(x, w, b), ops.resize_conv2d(x, w, b, mode=mode,
                                                               backend="triton"))


@requires_triton()
@pytest.mark.triton
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_triton_int64_path_forced(mode):
    from convkernels.triton import resize_conv as tri
    case = CASES[5]
    x, w, _ = case.tensors()
    args = (x, w if mode == "bilinear" else ref.fold_nearest_weight(w, 2, (1, 1), (2, 2)),
            None, None, 2, [1, 1], [2, 2])
    if mode == "nearest":
        out = tri.nearest_conv2d_fused(*args, [3, 3], False, index64=True)
    else:
        out = tri.bilinear_conv2d_fused(*args, False, False, index64=True)
    torch.testing.assert_close(out, _eager(x, w, None, case, mode, False), rtol=1e-5,
                               atol=1e-5)


# ---- bad inputs: one checker, before any backend ---------------------------------------------

_X, _W = torch.randn(1, 3, 4, 4), torch.randn(5, 3, 3, 3)


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("kwargs,args,error,match", [
    ({"mode": "bicubic"}, (), ValueError, "mode must be one of"),
    ({"scale_factor": 0}, (), ValueError, "scale_factor must be an integer >= 1"),
    ({"scale_factor": 1.5}, (), ValueError, "scale_factor must be an integer >= 1"),
    ({"scale_factor": True}, (), ValueError, "scale_factor must be an integer >= 1"),
    ({"align_corners": True}, (), ValueError, "only be set with the bilinear"),
    ({"padding": -1}, (), ValueError, "padding must be non-negative"),
    ({"padding": "same"}, (), ValueError, "padding must be an int or a pair"),
    ({"stride": 0}, (), ValueError, "stride must be positive"),
    ({"padding": 0}, (torch.randn(1, 3, 2, 2), _W), None, None),
    ({"padding": 0}, (torch.randn(1, 3, 1, 1), torch.randn(5, 3, 5, 5)), ValueError,
     "output size is too small"),
    ({}, (torch.randn(3, 4, 4), _W), ValueError, "expected 4-D input"),
    ({}, (_X, torch.randn(5, 4, 3, 3)), ValueError, "to have 4 channels, but got 3"),
    ({}, (_X, _W.half()), TypeError, "must be the same"),
    ({}, (_X.int(), _W), TypeError, "floating-point"),
    ({}, (_X, _W, torch.randn(4)), ValueError, r"bias must have shape \[5\]"),
])
def test_bad_inputs_rejected(backend, kwargs, args, error, match):
    args = args or (_X, _W)
    if error is None:  # the control: a valid call passes the same checker
        ops.resize_conv2d(*args, **kwargs, backend="torch")
        return
    with pytest.raises(error, match=match):
        ops.resize_conv2d(*args, **kwargs, backend=backend)


def test_fake_kernels_give_the_real_output_format():
    from torch._subclasses.fake_tensor import FakeTensorMode
    x, w, _ = TC_CASES[0].tensors()
    x = x.contiguous(memory_format=torch.channels_last)
    folded = ref.fold_nearest_weight(w, 2, (1, 1), (1, 1))
    real = ref.nearest_folded_conv2d(x, folded, None, None, 2, (1, 1), (1, 1), (3, 3), False)
    with FakeTensorMode() as mode:
        fx, fw, ff = mode.from_tensor(x), mode.from_tensor(w), mode.from_tensor(folded)
        fakes = resize_conv_primitives.FAKES
        near = fakes["resize_nearest_conv2d_fused"](fx, ff, None, None, 2, [1, 1], [1, 1],
                                                    [3, 3], False)
        bil = fakes["resize_bilinear_conv2d_fused"](fx, fw, None, None, 2, [1, 1], [1, 1],
                                                    False, False)
    for fake in (near, bil):
        assert fake.shape == real.shape and fake.stride() == real.stride()


def test_cpu_tensor_to_cuda_backend_is_refused():
    with pytest.raises(convkernels.BackendUnavailableError, match="cuda"):
        ops.resize_conv2d(_X, _W, backend="cuda")


# ---- nn.ResizeConv2d --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_module_matches_upsample_conv_pair_and_loads_its_state(mode):
    torch.manual_seed(0)
    pair = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2, mode=mode),
                               torch.nn.Conv2d(4, 6, 3, padding=1))
    mod = ResizeConv2d(4, 6, 3, scale_factor=2, mode=mode, backend="torch")
    mod.load_state_dict(pair[1].state_dict())
    x = torch.randn(2, 4, 5, 3)
    torch.testing.assert_close(mod(x), pair(x))
    assert set(mod.state_dict()) == {"weight", "bias"}
    assert "scale_factor=2" in repr(mod) and f"mode='{mode}'" in repr(mod)


@pytest.mark.parametrize("k,s,p,op", [(3, 2, 1, 1), (4, 2, 1, 0), (5, 2, 2, 1), (3, 3, 0, 0),
                                      (4, 4, 0, 0), (2, 2, 0, 0), (3, 2, 0, 0), (1, 2, 0, 1)])
def test_from_conv_transpose_keeps_the_output_shape(k, s, p, op):
    convT = torch.nn.ConvTranspose2d(3, 4, k, stride=s, padding=p, output_padding=op)
    twin = ResizeConv2d.from_conv_transpose(convT, backend="torch")
    assert twin.scale_factor == s and twin.bias is not None
    for H, W in ((4, 4), (5, 7), (8, 3)):
        x = torch.randn(1, 3, H, W)
        assert twin(x).shape == convT(x).shape


def test_from_conv_transpose_refuses_what_has_no_twin():
    with pytest.raises(ValueError, match="groups=1"):
        ResizeConv2d.from_conv_transpose(torch.nn.ConvTranspose2d(4, 4, 3, 2, groups=2))
    with pytest.raises(TypeError, match="ConvTranspose2d"):
        ResizeConv2d.from_conv_transpose(torch.nn.Conv2d(4, 4, 3))


# ---- checkerboard artifacts ----------------------------------------------------------------

@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_resize_conv_is_constant_on_constant_input_and_conv_transpose_is_not(mode):
    torch.manual_seed(0)
    convT = torch.nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
    twin = ResizeConv2d.from_conv_transpose(convT, mode=mode, backend="torch")
    x = torch.ones(1, 4, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        inner_t = convT.double()(x)[..., 2:-2, 2:-2]
        inner_r = twin.double()(x)[..., 2:-2, 2:-2]
    # resize-conv: every interior output sums the same taps over the same constant.
    spread_r = (inner_r.amax((2, 3)) - inner_r.amin((2, 3))).max().item()
    assert spread_r < 1e-12
    # transposed conv: 1, 2 or 4 taps overlap depending on the output's parity: the
    # stride-2 pattern carries (nearly) all of the non-constant energy.
    assert (inner_t.amax((2, 3)) - inner_t.amin((2, 3))).min().item() > 1e-3
    assert artifacts.checkerboard_score(inner_t) > 0.99
    assert artifacts.checkerboard_score(inner_r) < 1e-12


def test_checkerboard_score_of_known_signals():
    yy, xx = torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing="ij")
    board = ((yy + xx) % 2).view(1, 1, 16, 16)
    assert artifacts.checkerboard_score(board) == pytest.approx(1.0)
    assert artifacts.checkerboard_score(torch.sin(yy / 5).view(1, 1, 16, 16)) < 0.05
