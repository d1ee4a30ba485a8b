"""The float32 mode of our kernels (convkernels/precision.py): which mode is in effect, who
honours "tf32x3" and who refuses it, and that the triton kernels really issue three tensor-core
products per TF32 one (read from the PTX compiled for sm_90, no GPU needed; the cuda kernel's
SASS is checked in test_kernel_sass.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import ops, precision
from harness import requires_triton


@pytest.fixture(autouse=True)
def _no_mode_left_behind():
    yield
    convkernels.set_fp32_precision(None)


def test_default_follows_torch_cudnn_convolution_flag():
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        assert convkernels.get_fp32_precision() == "ieee"
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        assert convkernels.get_fp32_precision() == "tf32"


def test_tf32x3_process_wide_and_in_a_context():
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        with convkernels.fp32_precision("tf32x3"):
            assert convkernels.get_fp32_precision() == "tf32x3"
            with convkernels.fp32_precision(None):    # back to torch's flag inside
                assert convkernels.get_fp32_precision() == "ieee"
        assert convkernels.get_fp32_precision() == "ieee"
        convkernels.set_fp32_precision("tf32x3")
        assert convkernels.get_fp32_precision() == "tf32x3"
        convkernels.set_fp32_precision(None)
        assert convkernels.get_fp32_precision() == "ieee"


@pytest.mark.parametrize("mode", ["tf32", "ieee", "TF32X3", "bf16x3", 3])
def test_only_tf32x3_can_be_asked_for(mode):
    # "ieee" and "tf32" are torch's own switch; asking here would split one choice in two
    with pytest.raises(ValueError, match="mode must be 'tf32x3' or None"):
        convkernels.set_fp32_precision(mode)
    with pytest.raises(ValueError, match="mode must be 'tf32x3' or None"):
        with convkernels.fp32_precision(mode):
            pass


def _conv_fused_args(monkeypatch, backend, dtype):
    """The arguments ops.conv2d's composition passes to the conv2d_fused primitive."""
    from convkernels import _library
    from convkernels.ops import conv as conv_ops
    seen = []
    monkeypatch.setattr(_library, "op", lambda b, primitive: lambda *a: seen.append(a))
    x, w = torch.zeros(1, 4, 5, 5, dtype=dtype), torch.zeros(4, 4, 3, 3, dtype=dtype)
    g, _ = convkernels._checks.check_conv2d("conv2d", x, w, None, 1, 1, 1, 1)
    conv_ops._conv_fused(backend, x, w, None, None, None, g, False)
    return seen[0]


def test_split_tf32_argument_only_for_float32_cuda_calls_in_tf32x3():
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        assert precision.cuda_split_tf32_args("cuda", torch.float32) == ()
        with convkernels.fp32_precision("tf32x3"):
            assert precision.cuda_split_tf32_args("cuda", torch.float32) == (True,)
            assert precision.cuda_split_tf32_args("cuda", torch.float16) == ()
            assert precision.cuda_split_tf32_args("triton", torch.float32) == ()


def _winograd_fused_args(monkeypatch, backend, dtype):
    """The arguments the Winograd composition passes to the winograd_conv2d_fused primitive."""
    from convkernels import _library
    from convkernels.ops import winograd as wino
    seen = []

    def op(b, primitive):
        if primitive == "winograd_filter_transform":
            return lambda w, tile: w          # any tensor stands for U here
        return lambda *a: seen.append(a)

    monkeypatch.setattr(_library, "op", op)
    monkeypatch.setattr(wino, "filter_cache", wino.FilterTransformCache())  # not the real one
    x, w = torch.zeros(1, 4, 5, 5, dtype=dtype), torch.zeros(4, 4, 3, 3, dtype=dtype)
    g, _ = convkernels._checks.check_conv2d("conv2d", x, w, None, 1, 1, 1, 1)
    wino._winograd_kernels(backend, x, w, None, None, None, g, False, 2)
    return seen[0]


def _resize_fused_args(mode):
    def collect(monkeypatch, backend, dtype):
        """The arguments the resize-conv composition passes to its fused primitive."""
        from convkernels import _library
        from convkernels.ops import resize_conv as resize_ops
        from convkernels.ops import resize_conv_checks
        seen = []
        monkeypatch.setattr(_library, "op", lambda b, primitive: lambda *a: seen.append(a))
        x, w = torch.zeros(1, 4, 5, 5, dtype=dtype), torch.zeros(4, 4, 3, 3, dtype=dtype)
        geom = resize_conv_checks.check_resize_conv2d("resize_conv2d", x, w, None, 2, mode, 1, 1,
                                                      False)
        resize_ops._kernel_impl(backend, x, w, None, None, geom, False)
        return seen[0]
    return collect


def _separable_pointwise_args(monkeypatch, backend, dtype):
    """The arguments separable_conv2d's two-launch form passes to its pointwise product."""
    from convkernels import _library
    from convkernels.ops import depthwise as depthwise_ops
    seen = []
    monkeypatch.setattr(_library, "op", lambda b, primitive: lambda *a: seen.append(a) or a[0])
    x = torch.zeros(1, 4, 5, 5, dtype=dtype)
    dw, pw = torch.zeros(4, 1, 3, 3, dtype=dtype), torch.zeros(6, 4, 1, 1, dtype=dtype)
    g, _ = convkernels._checks.check_conv2d("separable_conv2d", x, dw, None, 1, 1, 1, 4)
    depthwise_ops._separable_kernels(backend, x, dw, pw, None, None, False, None, None, False,
                                     g, True)   # needs_grad: the two-launch form
    assert len(seen) == 2 and seen[1][1] is pw
    return seen[1]


@pytest.mark.parametrize("primitive_args,arity", [
    (_conv_fused_args, 10), (_winograd_fused_args, 9), (_resize_fused_args("nearest"), 9),
    (_resize_fused_args("bilinear"), 9), (_separable_pointwise_args, 10)],
    ids=["conv2d_fused", "winograd", "resize_nearest", "resize_bilinear", "separable_pointwise"])
def test_cuda_primitive_is_told_tf32x3_and_triton_reads_it_itself(monkeypatch, primitive_args,
                                                                   arity):
    """Every cuda primitive with TF32 tensor-core kernels (conv2d_fused, also for separable's
    pointwise product; winograd_conv2d_fused; both resize-conv ones) gets a trailing
    split_tf32=True exactly for float32 in tf32x3; otherwise the schema's default (False)."""
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        assert len(primitive_args(monkeypatch, "cuda", torch.float32)) == arity
        with convkernels.fp32_precision("tf32x3"):
            args = primitive_args(monkeypatch, "cuda", torch.float32)
            assert len(args) == arity + 1 and args[-1] is True
            assert len(primitive_args(monkeypatch, "cuda", torch.float16)) == arity
            assert len(primitive_args(monkeypatch, "triton", torch.float32)) == arity


def test_auto_keeps_a_measured_cuda_winograd_in_tf32x3(monkeypatch):
    """algo="auto" may pick Winograd from the dispatch table: the cuda Winograd kernels have
    tf32x3, so a float32 call in that mode keeps the measured choice; a Winograd algorithm the
    backend refuses (the triton F(4x4) kernel on a GPU) still goes to the next measured one."""
    from convkernels import algo, backends
    from convkernels.ops import winograd as wino

    def problem(backend, call):
        return ("" if backend == "cuda"
                else backends.implementations(call.op)[backend].supports(call))

    monkeypatch.setattr(backends, "backend_problem", problem)
    monkeypatch.setattr(wino._library, "has_op", lambda backend, primitive: True)
    call = backends.Call("conv2d", torch.device("cuda"), torch.float32, extra={"algo": "auto"})
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        for mode in (None, "tf32x3"):
            with convkernels.fp32_precision(mode):
                assert not algo._winograd_refused("cuda", "winograd_2x2", call)
                assert not algo._winograd_refused("cuda", "winograd_4x4", call)
                assert algo._winograd_refused("triton", "winograd_4x4", call)
                assert not algo._winograd_refused("triton", "winograd_2x2", call)
                assert not algo._winograd_refused("triton", "direct", call)
        assert call.op == "conv2d"


def _assert_formula_takes_both_arities(fake, setup, backward, base, out_shape, x, weight):
    """fake, setup and backward of one primitive with its triton arity (``base``) and its cuda
    one (``base`` + split_tf32): the output shape, and one gradient per input."""
    for inputs in (base, base + (True,)):
        out = torch.zeros(fake(*inputs).shape)
        assert out.shape == out_shape

        class Ctx:
            needs_input_grad = (True, True) + (False,) * (len(inputs) - 2)

            def save_for_backward(self, *t):
                self.saved_tensors = t

        ctx = Ctx()
        setup(ctx, inputs, out)
        grads = backward(ctx, torch.ones_like(out))
        assert len(grads) == len(inputs) and all(g is None for g in grads[2:])
        assert grads[0].shape == x.shape and grads[1].shape == weight.shape


@pytest.mark.parametrize("primitive", ["conv2d_fused", "winograd_conv2d_fused"])
def test_fused_formula_takes_cuda_split_tf32(primitive):
    """The cuda twins of conv2d_fused and winograd_conv2d_fused have one argument more than
    their triton twins (split_tf32): the shared fake kernels and backward formulas accept both
    arities and return one gradient per input."""
    from convkernels.ops import conv_primitives, winograd_primitives
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, requires_grad=True)
    if primitive == "conv2d_fused":
        module, base = conv_primitives, (x, w, None, None, None, [1, 1], [1, 1], [1, 1], 1, False)
    else:
        u = torch.randn(16, 3, 2)
        module, base = winograd_primitives, (x, w, u, None, None, None, [1, 1], 2, False)
    fake, setup, backward = (getattr(module, f"{primitive}_{part}")
                             for part in ("fake", "setup", "backward"))
    _assert_formula_takes_both_arities(fake, setup, backward, base, (1, 3, 4, 4), x, w)


@pytest.mark.parametrize("primitive", ["resize_nearest_conv2d_fused",
                                       "resize_bilinear_conv2d_fused"])
def test_resize_formula_takes_cuda_split_tf32(primitive):
    """As above for the resize-conv primitives, whose cuda twins end with split_tf32 too."""
    from convkernels.ops import resize_conv_primitives as prims
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, requires_grad=True)
    if primitive == "resize_nearest_conv2d_fused":
        weight = ops.fold_nearest_weight(w, 2, 1, 1).detach().requires_grad_(True)
        base = (x, weight, None, None, 2, [1, 1], [1, 1], [3, 3], False)
    else:
        weight = w
        base = (x, weight, None, None, 2, [1, 1], [1, 1], False, False)
    backward, setup = prims.FORMULAS[primitive]
    _assert_formula_takes_both_arities(prims.FAKES[primitive], setup, backward, base,
                                       (1, 3, 8, 8), x, weight)


@pytest.mark.parametrize("glue,op", [("winograd.cpp", "cuda_winograd_conv2d_fused"),
                                     ("resize_conv.cpp", "cuda_resize_nearest_conv2d_fused"),
                                     ("resize_conv.cpp", "cuda_resize_bilinear_conv2d_fused")])
def test_cuda_schema_ends_with_split_tf32(glue, op):
    """Read from the C++ glue, so it holds without a built extension (test_csrc_units checks
    the registered schemas against these sources where the extension loads)."""
    text = (Path(__file__).resolve().parents[1] / "csrc" / "ops" / glue).read_text()
    schema = "".join(text.split(f"{op}(Tensor input", 1)[1].split("-> Tensor", 1)[0].split('"'))
    assert schema.replace(" ", "").endswith("boolrelu,boolsplit_tf32=False)"), schema


def _upsampled(x, mode):
    return F.interpolate(x, scale_factor=2, mode=mode, align_corners=False if mode == "bilinear"
                         else None)


def _conv3x3(x, w, dw, pw):
    return F.conv2d(x, w, padding=1)


# (ours, its composition in aten ops, run in float64) per cuda op with a 3xTF32 kernel, on
# x [2, 40, 17, 19], w [24, 40, 3, 3], dw [40, 1, 3, 3], pw [24, 40, 1, 1].
TF32X3_GPU_CASES = {
    "direct": (lambda x, w, dw, pw: ops.conv2d(x, w, padding=1, algo="direct", backend="cuda"),
               _conv3x3),
    "winograd_2x2": (lambda x, w, dw, pw: ops.conv2d(x, w, padding=1, algo="winograd_2x2",
                                                     backend="cuda"), _conv3x3),
    "winograd_4x4": (lambda x, w, dw, pw: ops.conv2d(x, w, padding=1, algo="winograd_4x4",
                                                     backend="cuda"), _conv3x3),
    "resize_nearest": (lambda x, w, dw, pw: ops.resize_conv2d(x, w, None, 2, backend="cuda"),
                       lambda x, w, dw, pw: F.conv2d(_upsampled(x, "nearest"), w, padding=1)),
    "resize_bilinear": (lambda x, w, dw, pw: ops.resize_conv2d(x, w, None, 2, mode="bilinear",
                                                               backend="cuda"),
                        lambda x, w, dw, pw: F.conv2d(_upsampled(x, "bilinear"), w, padding=1)),
    "separable": (lambda x, w, dw, pw: ops.separable_conv2d(x, dw, pw, padding=1, backend="cuda"),
                  lambda x, w, dw, pw: F.conv2d(F.conv2d(x, dw, padding=1, groups=40), pw)),
}


@pytest.mark.skipif(not torch.cuda.is_available() or not convkernels._extension.load()[0],
                    reason="needs a CUDA device and the built cuda extension")
@pytest.mark.parametrize("case", sorted(TF32X3_GPU_CASES))
def test_cuda_tf32x3_error_is_far_below_tf32(case):
    """On a GPU: 3xTF32 against float64, far below plain TF32 on the same data (TF32 allowed
    by torch's flag, so the plain run is TF32)."""
    if torch.cuda.get_device_capability()[0] < 8:
        pytest.skip("TF32 tensor cores need sm_80")
    ours, composition = TF32X3_GPU_CASES[case]
    g = torch.Generator(device="cuda").manual_seed(0)
    tensors = [torch.randn(*shape, device="cuda", generator=g) for shape in
               ((2, 40, 17, 19), (24, 40, 3, 3), (40, 1, 3, 3), (24, 40, 1, 1))]
    want = composition(*(t.double() for t in tensors))
    scale = composition(*(t.double().abs() for t in tensors)).amax()
    err = {}
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        for mode in (None, "tf32x3"):
            with convkernels.fp32_precision(mode):
                got = ours(*tensors)
            err[mode] = ((got.double() - want).abs().amax() / scale).item()
    assert err["tf32x3"] * 64 < err[None], err


@requires_triton()
def test_triton_kernels_launch_in_tf32x3():
    """The mode reaches every triton conv launch (under the interpreter the products are
    float32 whatever the mode, so this checks the path, not the arithmetic)."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 8, 9, 9, generator=g), torch.randn(6, 8, 3, 3, generator=g)
    want = F.conv2d(x.double(), w.double(), padding=1)
    with convkernels.fp32_precision("tf32x3"):
        for algo in ("direct", "winograd_2x2"):
            got = ops.conv2d(x, w, padding=1, algo=algo, backend="triton")
            torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)
        dw = torch.randn(8, 1, 3, 3, generator=g)
        got = ops.conv2d(x, dw, padding=1, groups=8, backend="triton")
        torch.testing.assert_close(got.double(), F.conv2d(x.double(), dw.double(), padding=1,
                                                          groups=8), rtol=1e-4, atol=1e-4)


def test_tf32x3_issues_three_tensor_core_products_per_tf32_one():
    triton = pytest.importorskip("triton")
    if not hasattr(triton, "compile"):
        pytest.skip("this Triton cannot compile ahead of time")
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")])  # this checkout
    done = subprocess.run([sys.executable, str(repo / "tools" / "triton_resources.py"),
                           "--conv-products"], capture_output=True, text=True, env=env,
                          cwd=repo, timeout=600)
    assert done.returncode == 0, done.stderr
    products = json.loads(done.stdout)
    assert products["ieee"] == 0, products
    assert products["tf32"] > 0 and products["tf32x3"] == 3 * products["tf32"], products
