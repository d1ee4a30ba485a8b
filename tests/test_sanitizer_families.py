"""One small call of every CUDA kernel family, forward and (where we own it) backward.

This is the subset ``make gpu-check`` runs under compute-sanitizer memcheck and racecheck
(marker ``sanitizer``): small enough to finish in seconds under the tools, wide enough that
every ``.cu`` family launches at least once, on awkward shapes (odd sizes, ragged tiles, C not a
multiple of 8 next to the vectorized channels_last paths). Each call is also compared with
PyTorch, so a kernel that "passes" the sanitizer by computing nothing still fails here.
"""

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import ops

pytestmark = [pytest.mark.cuda, pytest.mark.sanitizer]


@pytest.fixture(autouse=True)
def _needs_extension():
    loaded, why = convkernels._extension.load()
    if not loaded:
        pytest.skip(why)


def _x(n, c, h, w, dtype=torch.float16, channels_last=True, grad=False):
    x = torch.randn(n, c, h, w, device="cuda", dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.requires_grad_(grad)


def _close(ours, ref, what, *, atol=None):
    tol = 2e-2 if ours.dtype in (torch.float16, torch.bfloat16) else 1e-4
    torch.testing.assert_close(ours.float().cpu(), ref.float().cpu(), atol=atol or tol, rtol=tol,
                               msg=what)


@pytest.mark.parametrize("channels_last", [True, False], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
def test_conv_direct_and_batch_norm(dtype, channels_last):
    x = _x(2, 24, 9, 11, dtype, channels_last)
    w = torch.randn(40, 24, 3, 3, device="cuda", dtype=dtype) / 15
    scale = torch.rand(40, device="cuda") + 0.5
    shift = torch.randn(40, device="cuda")
    res = torch.randn(2, 40, 9, 11, device="cuda", dtype=dtype)
    ours = ops.conv2d_affine(x, w, scale, shift, padding=1, relu=True, residual=res,
                             backend="cuda")
    ref = (F.conv2d(x.float(), w.float(), padding=1) * scale.view(1, -1, 1, 1)
           + shift.view(1, -1, 1, 1) + res.float()).relu()
    _close(ours, ref, "conv2d_affine")
    mean, var = torch.ops.convkernels.cuda_channel_moments(ours)
    v_ref, m_ref = torch.var_mean(ours.float(), dim=(0, 2, 3), correction=0)
    _close(mean, m_ref, "channel_moments mean")
    _close(var, v_ref, "channel_moments var")
    y = torch.ops.convkernels.cuda_scale_shift_relu(ours, scale, shift, None, True)
    _close(y, (ours.float() * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)).relu(),
           "scale_shift_relu")


def test_conv_generic_kernel_odd_channels():
    x = _x(1, 5, 13, 7, torch.float32, channels_last=False)
    w = torch.randn(3, 5, 5, 3, device="cuda")
    ours = ops.conv2d(x, w, stride=2, padding=(2, 1), dilation=1, algo="direct", backend="cuda")
    _close(ours, F.conv2d(x, w, stride=2, padding=(2, 1)), "generic direct conv")


@pytest.mark.parametrize("algo", ["winograd_2x2", "winograd_4x4"])
def test_winograd(algo):
    x = _x(2, 32, 10, 13)
    w = torch.randn(32, 32, 3, 3, device="cuda", dtype=torch.float16) / 17
    ours = ops.conv2d(x, w, padding=1, algo=algo, backend="cuda")
    ref = F.conv2d(x.float(), w.float(), padding=1)
    # F(4x4)'s documented fp16 bound is 2e-2 of max|ref| (docs/ops/winograd.md), F(2x2)'s the
    # plain fp16 tolerance.
    _close(ours, ref, algo, atol=2e-2 * ref.abs().max().item() if algo == "winograd_4x4" else None)


def test_grouped_depthwise_separable_with_backward():
    x = _x(2, 64, 9, 9)
    wg = torch.randn(64, 2, 3, 3, device="cuda", dtype=torch.float16) / 4
    _close(ops.conv2d(x, wg, padding=1, groups=32, backend="cuda"),
           F.conv2d(x.float(), wg.float(), padding=1, groups=32), "grouped")
    xd = _x(2, 32, 11, 9, grad=True)
    wd = (torch.randn(32, 1, 3, 3, device="cuda", dtype=torch.float16) / 3).requires_grad_()
    y = ops.depthwise_conv2d(xd, wd, stride=2, padding=1, backend="cuda")
    y.backward(torch.ones_like(y))
    xr, wr = xd.detach().float().requires_grad_(), wd.detach().float().requires_grad_()
    yr = F.conv2d(xr, wr, stride=2, padding=1, groups=32)
    yr.backward(torch.ones_like(yr))
    _close(y, yr, "depthwise")
    _close(xd.grad, xr.grad, "depthwise dgrad")
    _close(wd.grad, wr.grad, "depthwise wgrad")
    wp = torch.randn(48, 32, 1, 1, device="cuda", dtype=torch.float16) / 6
    with torch.no_grad():
        ours = ops.separable_conv2d(xd.detach(), wd.detach(), wp, padding=1, backend="cuda")
        ref = F.conv2d(F.conv2d(xd.detach().float(), wd.detach().float(), padding=1, groups=32),
                       wp.float())
    _close(ours, ref, "separable")


@pytest.mark.parametrize("channels_last", [True, False], ids=["nhwc", "nchw"])
def test_pooling_with_backward(channels_last):
    x = _x(2, 12, 13, 11, torch.float32, channels_last, grad=True)
    y, idx = ops.max_pool2d(x, 3, 2, padding=1, ceil_mode=True, return_indices=True,
                            backend="cuda")
    # float64 CPU references: the CUDA reference is itself a kernel under test here (on the
    # H200, aten's channels_last avg_pool2d backward of an expanded gradient disagreed with ours).
    xr = x.detach().double().cpu().requires_grad_()
    yr, idx_r = F.max_pool2d(xr, 3, 2, padding=1, ceil_mode=True, return_indices=True)
    assert torch.equal(idx.cpu(), idx_r)
    g = torch.randn_like(yr)
    y.backward(g.to(y))
    yr.backward(g)
    _close(x.grad, xr.grad, "max_pool2d backward")
    _close(ops.max_unpool2d(y.detach(), idx, 3, 2, padding=1, output_size=(13, 11),
                            backend="cuda"),
           F.max_unpool2d(yr.detach(), idx_r, 3, 2, padding=1, output_size=(13, 11)),
           "max_unpool2d")
    x.grad = None
    a = ops.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False, backend="cuda")
    a.sum().backward()
    xr.grad = None
    F.avg_pool2d(xr, 3, 2, padding=1, count_include_pad=False).sum().backward()
    _close(x.grad, xr.grad, "avg_pool2d backward")
    _close(ops.adaptive_avg_pool2d(x.detach(), (5, 3), backend="cuda"),
           F.adaptive_avg_pool2d(xr.detach(), (5, 3)), "adaptive_avg_pool2d")
    am, ai = ops.adaptive_max_pool2d(x.detach(), (4, 3), return_indices=True, backend="cuda")
    amr, air = F.adaptive_max_pool2d(xr.detach(), (4, 3), return_indices=True)
    _close(am, amr, "adaptive_max_pool2d")
    assert torch.equal(ai.cpu(), air)


def test_lrn_and_fused_lrn_pool_with_backward():
    x = _x(2, 20, 9, 9, torch.float32, grad=True)
    y = ops.local_response_norm(x, 5, 1e-4, 0.75, 2.0, backend="cuda")
    xr = x.detach().clone().requires_grad_()
    yr = F.local_response_norm(xr, 5, 1e-4, 0.75, 2.0)
    g = torch.randn_like(yr)
    y.backward(g)
    yr.backward(g)
    _close(y, yr, "lrn")
    _close(x.grad, xr.grad, "lrn backward")
    with torch.no_grad():
        fused = ops.lrn_max_pool2d(x.detach(), 5, 1e-4, 0.75, 2.0, kernel_size=3, stride=2,
                                   backend="cuda")
    _close(fused, F.max_pool2d(yr.detach(), 3, 2), "lrn_max_pool2d")


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_resize_conv(mode):
    x = _x(2, 16, 7, 6)
    w = torch.randn(24, 16, 3, 3, device="cuda", dtype=torch.float16) / 12
    ours = ops.resize_conv2d(x, w, scale_factor=2, mode=mode, padding=1, backend="cuda")
    up = F.interpolate(x.float(), scale_factor=2, mode=mode,
                       **({} if mode == "nearest" else {"align_corners": False}))
    _close(ours, F.conv2d(up, w.float(), padding=1), f"resize_conv {mode}")


def test_local_conv():
    x = _x(2, 3, 8, 7, torch.float32, channels_last=False)
    conv = convkernels.nn.LocallyConnected2d(3, 4, (8, 7), 3).cuda()
    with torch.no_grad():
        ours = ops.local_conv2d(x, conv.weight, conv.bias, backend="cuda")
        ref = ops.local_conv2d(x, conv.weight, conv.bias, backend="torch")
    _close(ours, ref, "local_conv2d")
