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


# The cuda ops with TF32 tensor-core kernels and no tf32x3 mode.
CUDA_TF32_ONLY = ("conv2d_winograd", "resize_conv2d", "resize_conv2d_affine", "separable_conv2d")


def test_cuda_refuses_tf32x3_only_where_it_would_compute_tf32():
    with convkernels.fp32_precision("tf32x3"):
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
            for op in CUDA_TF32_ONLY:
                why = precision.cuda_problem(op, torch.float32)
                assert "no tf32x3 mode" in why and "triton" in why, op
                assert precision.cuda_problem(op, torch.float16) == ""        # no TF32 there
            assert precision.cuda_problem("max_pool2d", torch.float32) == ""  # no products
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            # full float32 is at least as accurate as asked: the cuda kernels run
            for op in CUDA_TF32_ONLY:
                assert precision.cuda_problem(op, torch.float32) == ""
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        for op in CUDA_TF32_ONLY:
            assert precision.cuda_problem(op, torch.float32) == ""            # mode not asked


@pytest.mark.parametrize("op", ["conv2d", "conv2d_affine", "fused_conv_bn_relu"])
def test_cuda_direct_conv_honours_tf32x3(op):
    """The direct kernel has a 3xTF32 policy (cuda_conv2d_fused's split_tf32)."""
    with convkernels.fp32_precision("tf32x3"), \
            torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        assert precision.cuda_problem(op, torch.float32) == ""


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


def test_cuda_primitive_is_told_tf32x3_and_triton_reads_it_itself(monkeypatch):
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        assert len(_conv_fused_args(monkeypatch, "cuda", torch.float32)) == 10   # default False
        with convkernels.fp32_precision("tf32x3"):
            args = _conv_fused_args(monkeypatch, "cuda", torch.float32)
            assert len(args) == 11 and args[-1] is True
            assert len(_conv_fused_args(monkeypatch, "cuda", torch.float16)) == 10
            assert len(_conv_fused_args(monkeypatch, "triton", torch.float32)) == 10


def test_auto_passes_over_a_measured_cuda_winograd_in_tf32x3(monkeypatch):
    """algo="auto" may pick Winograd from the dispatch table; the cuda Winograd kernels have
    no tf32x3, so under it a float32 call takes the next measured algorithm (direct)."""
    from convkernels import algo, backends
    monkeypatch.setattr(backends, "backend_problem",
                        lambda backend, call: precision.cuda_problem(call.op, call.dtype))
    call = backends.Call("conv2d", torch.device("cuda"), torch.float32, extra={"algo": "auto"})
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        assert not algo._winograd_refused("cuda", "winograd_2x2", call)
        with convkernels.fp32_precision("tf32x3"):
            assert algo._winograd_refused("cuda", "winograd_2x2", call)
            assert not algo._winograd_refused("cuda", "direct", call)
        assert call.op == "conv2d"


def test_conv2d_fused_formula_takes_cuda_split_tf32():
    """cuda_conv2d_fused has one argument more than its triton twin (split_tf32): the shared
    fake kernel and backward formula accept both arities and return one gradient per input."""
    from convkernels.ops import conv_primitives as cp
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, requires_grad=True)
    base = (x, w, None, None, None, [1, 1], [1, 1], [1, 1], 1, False)
    for inputs in (base, base + (True,)):
        assert cp.conv2d_fused_fake(*inputs).shape == (1, 3, 4, 4)

        class Ctx:
            needs_input_grad = (True, True) + (False,) * (len(inputs) - 2)

            def save_for_backward(self, *t):
                self.saved_tensors = t

        ctx = Ctx()
        out = F.conv2d(x, w, padding=1)
        cp.conv2d_fused_setup(ctx, inputs, out)
        grads = cp.conv2d_fused_backward(ctx, torch.ones_like(out))
        assert len(grads) == len(inputs) and all(g is None for g in grads[2:])
        assert grads[0].shape == x.shape and grads[1].shape == w.shape


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
