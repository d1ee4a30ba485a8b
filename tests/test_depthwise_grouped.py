"""Grouped convolution (1 < groups < C): ops.conv2d(groups=g) and fused_conv_bn_relu against
torch.nn.functional, every backend; argument errors; the primitive's fake kernel and opcheck."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from convkernels import _library, ops
from harness import HAS_CUDA, assert_within_rule, backend_params, layouts, requires_triton

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@dataclass(frozen=True)
class GroupedCase:
    name: str
    N: int
    C: int
    H: int
    W: int
    K: int
    k: int
    groups: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def tensors(self, dtype=torch.float32, device="cpu", seed=0):
        g = torch.Generator().manual_seed(seed)
        cg = self.C // self.groups
        x = torch.randn(self.N, self.C, self.H, self.W, generator=g, dtype=torch.float64)
        w = torch.randn(self.K, cg, self.k, self.k, generator=g, dtype=torch.float64)
        w /= (cg * self.k * self.k) ** 0.5
        b = torch.randn(self.K, generator=g, dtype=torch.float64)
        return x.to(device, dtype), w.to(device, dtype), b.to(device, dtype)

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)


# Small enough for the Triton interpreter; they cover the kernels' schedules: Cg = 1..16,
# Kg = 1..16 (ResNeXt's 4-wide groups, Kg >= 16 takes tl.dot in Triton and KT = 4 in CUDA),
# odd Kg, kernel sizes 1/3/5 and a generic 2x4, strides 1/2, dilation 2.
SMALL = [
    GroupedCase("resnext-like-Cg4", 2, 16, 6, 6, 16, 3, 4, padding=1),
    GroupedCase("resnext-like-s2", 1, 16, 7, 7, 16, 3, 4, stride=2, padding=1),
    GroupedCase("two-towers-Kg16", 1, 32, 5, 5, 32, 3, 2, padding=1),
    GroupedCase("odd-Kg3-Cg2", 2, 6, 5, 7, 9, 3, 3, padding=1),
    GroupedCase("5x5-dilated", 1, 8, 9, 9, 8, 5, 2, padding=2, dilation=2),
    GroupedCase("1x1-grouped", 2, 12, 4, 4, 6, 1, 3),
]

# Real grouped layers at batch 1 (GPU only: too slow for the interpreter).
REAL = [
    GroupedCase("alexnet-conv2", 1, 96, 27, 27, 256, 5, 2, padding=2),
    GroupedCase("alexnet-conv4", 1, 384, 13, 13, 384, 3, 2, padding=1),
    GroupedCase("alexnet-conv5", 1, 384, 13, 13, 256, 3, 2, padding=1),
    GroupedCase("resnext50-conv2", 1, 128, 56, 56, 128, 3, 32, padding=1),
    GroupedCase("resnext50-conv3-s2", 1, 256, 56, 56, 256, 3, 32, stride=2, padding=1),
    GroupedCase("resnext50-conv5", 1, 1024, 7, 7, 1024, 3, 32, padding=1),
]


def _check(case, backend, device, dtype, layout="nchw", with_bias=True):
    x, w, b = case.tensors(dtype, device)
    x = dict(layouts(x))[layout]
    b = b if with_bias else None
    ours = ops.conv2d(x, w, b, **case.kwargs(), backend=backend)
    same = F.conv2d(x, w, b, **case.kwargs())
    ref = F.conv2d(x.double(), w.double(), None if b is None else b.double(), **case.kwargs())
    assert_within_rule(ours, same, ref, what=f"{case.name}/{backend}/{dtype}/{layout}")
    return ours, x


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("case", SMALL, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_grouped_small(backend, device, case, dtype):
    _check(case, backend, device, dtype)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("layout", ["channels_last", "sliced", "permuted", "misaligned"])
def test_grouped_layouts(backend, device, layout):
    out, x = _check(SMALL[0], backend, device, torch.float32, layout=layout)
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert out.is_contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("training", [False, True])
def test_fused_conv_bn_relu_grouped(backend, device, training):
    """The fused BN / residual / ReLU epilogue on the grouped kernel (eval folds BN)."""
    case = SMALL[3]
    x, w, b = case.tensors(torch.float32, device)
    g = torch.Generator().manual_seed(5)
    K = case.K
    mean, var = torch.randn(K, generator=g), torch.rand(K, generator=g) + 0.5
    gamma, beta = torch.randn(K, generator=g), torch.randn(K, generator=g)
    out_shape = F.conv2d(x, w, None, **case.kwargs()).shape
    res = torch.randn(out_shape, generator=g)
    stats = [t.to(device) for t in (mean, var, gamma, beta)]
    ours_stats = [t.clone() for t in stats]
    ours = ops.fused_conv_bn_relu(x, w, b, *ours_stats, **case.kwargs(), training=training,
                                  residual=res.to(device), backend=backend)

    def torch_chain(dtype, st):
        y = F.conv2d(x.to(dtype), w.to(dtype), b.to(dtype), **case.kwargs())
        y = F.batch_norm(y, st[0].to(dtype) if not training else st[0],
                         st[1].to(dtype) if not training else st[1], st[2].to(dtype),
                         st[3].to(dtype), training, 0.1, 1e-5)
        return torch.relu(y + res.to(device, dtype))

    ref_stats = [t.clone().double() for t in stats]
    assert_within_rule(ours, torch_chain(torch.float32, [t.clone() for t in stats]),
                       torch_chain(torch.float64, ref_stats), what=f"fused grouped {backend}")
    if training:  # running statistics updated like F.batch_norm
        torch.testing.assert_close(ours_stats[0].double(), ref_stats[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ours_stats[1].double(), ref_stats[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
def test_grouped_gradients_match_torch(backend, device):
    """Grouped (non-depthwise) backward: aten's convolution_backward through our formula."""
    case = SMALL[0]
    x, w, b = (t.requires_grad_() for t in case.tensors(torch.float32, device))
    y = ops.conv2d(x, w, b, **case.kwargs(), backend=backend)
    go = torch.randn_like(y)
    gx, gw, gb = torch.autograd.grad(y, (x, w, b), go)
    x2, w2, b2 = (t.detach().double().requires_grad_() for t in (x, w, b))
    rx, rw, rb = torch.autograd.grad(F.conv2d(x2, w2, b2, **case.kwargs()), (x2, w2, b2),
                                     go.double())
    for ours, ref in ((gx, rx), (gw, rw), (gb, rb)):
        torch.testing.assert_close(ours.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend,device", backend_params())
def test_empty_batch_gives_empty_output(backend, device):
    x, w, _ = SMALL[0].tensors(torch.float32, device)
    out = ops.conv2d(x[:0], w, **SMALL[0].kwargs(), backend=backend)
    assert out.shape == (0, 16, 6, 6)


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("x_shape,w_shape,groups,match", [
    ((1, 6, 5, 5), (6, 2, 3, 3), 4, r"input channels \(6\) must be divisible by groups \(4\)"),
    ((1, 8, 5, 5), (8, 4, 3, 3), 4, r"expected input\[1, 8, 5, 5\] to have 16 channels"),
    ((1, 8, 5, 5), (6, 2, 3, 3), 4, r"out_channels \(6\) .* must be divisible by groups \(4\)"),
    ((1, 8, 5, 5), (8, 1, 3, 3), 4, r"expected input\[1, 8, 5, 5\] to have 4 channels"),
])
def test_groups_mismatch_errors(backend, device, x_shape, w_shape, groups, match):
    """C not divisible by groups, weight shape not matching groups: same error everywhere."""
    x, w = torch.randn(x_shape, device=device), torch.randn(w_shape, device=device)
    with pytest.raises(ValueError, match=match):
        ops.conv2d(x, w, groups=groups, backend=backend)


@requires_triton()
def test_triton_primitive_opcheck_grouped():
    x, w, _ = SMALL[3].tensors(torch.float32)
    scale, shift = torch.rand(9) + 0.5, torch.randn(9)
    args = (x, w, scale, shift, None, [1, 1], [1, 1], [1, 1], 3, True)
    torch.library.opcheck(_library.op("triton", "conv2d_fused"), args,
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")
@pytest.mark.parametrize("backend", ["cuda", "triton"])
@pytest.mark.parametrize("case", REAL, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_real_grouped_layers_gpu(backend, case, dtype, layout):
    _check(case, backend, "cuda", dtype, layout=layout)
