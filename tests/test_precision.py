"""The float32 mode of our kernels (convkernels/precision.py): which mode is in effect, who
honours "tf32x3" and who refuses it, and that the triton kernels really issue three tensor-core
products per TF32 one (read from the PTX compiled for sm_90, no GPU needed)."""

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


def test_cuda_refuses_tf32x3_only_where_it_would_compute_tf32():
    with convkernels.fp32_precision("tf32x3"):
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
            why = precision.cuda_problem("conv2d", torch.float32)
            assert "no tf32x3 mode yet" in why and "triton" in why
            assert precision.cuda_problem("fused_conv_bn_relu", torch.float32)
            assert precision.cuda_problem("conv2d", torch.float16) == ""      # no TF32 there
            assert precision.cuda_problem("max_pool2d", torch.float32) == ""  # no products
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            # full float32 is at least as accurate as asked: the cuda kernels run
            assert precision.cuda_problem("conv2d", torch.float32) == ""
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        assert precision.cuda_problem("conv2d", torch.float32) == ""          # mode not asked


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
