"""A converted model at run time, checked on the CPU: what CUDA-graph capture and
torch.compile need, and channels_last kept from end to end.

* Layout: under the torch backend (and, small, the Triton one), a converted channels_last
  model performs no layout conversion (an op that reads a channels_last 4-D tensor and
  writes an NCHW one, or the reverse) that the original model does not perform.
* Host synchronization: after a warm-up call, a forward in eval calls nothing that copies a
  value to the host (``.item()``, ``.tolist()``, ``nonzero``, a tensor in an ``if``): CUDA
  graph capture forbids it, and on a GPU it stalls the launch queue. Checked on the torch
  backend and, small, on the Triton backend through the interpreter.
* torch.compile: the converted model compiles as one graph (no graph break) and, called
  again with the same shapes, is not recompiled.

What this cannot check without a GPU: allocation inside a capture, stream use, and speed.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_convert import _randomize_bn, _x
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import convkernels
from harness import INTERPRET, requires_triton

aten = torch.ops.aten
_HOST_SYNCS = {aten._local_scalar_dense.default, aten.nonzero.default, aten.is_nonzero.default,
               aten.equal.default, aten.allclose.default}


def _layout(t) -> str | None:
    """"cl" / "nchw" for a 4-D tensor contiguous in exactly one of the two formats; None
    for anything else (a 1x1 map, one channel: both formats at once)."""
    if not isinstance(t, torch.Tensor) or t.dim() != 4:
        return None
    nchw, cl = t.is_contiguous(), t.is_contiguous(memory_format=torch.channels_last)
    return "nchw" if nchw and not cl else "cl" if cl and not nchw else None


class RuntimeProbe(TorchDispatchMode):
    """Records, per aten op, layout conversions and host synchronizations."""

    def __init__(self):
        super().__init__()
        self.layout_changes: list[str] = []
        self.host_syncs: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _HOST_SYNCS:
            self.host_syncs.append(str(func))
        ins = {_layout(a) for a in tree_flatten((args, kwargs))[0]} - {None}
        outs = {_layout(o) for o in tree_flatten(out)[0]} - {None}
        if len(ins) == 1 and outs and outs != ins:
            self.layout_changes.append(f"{func}: {ins.pop()} -> {sorted(outs)}")
        return out


def _probe(model: nn.Module, x: torch.Tensor) -> RuntimeProbe:
    with torch.no_grad():
        model(x)   # warm-up: caches (folded BatchNorm, backend choice) fill here
        with RuntimeProbe() as probe:
            model(x)
    return probe


class OurLayers(nn.Module):
    """One of each layer convert() produces, in a custom forward: fused conv chains (plain,
    depthwise, with a residual), both LRN/pool orders, a resize-conv and the pools."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.norm, self.pool = nn.LocalResponseNorm(5, k=2.0), nn.MaxPool2d(3, 2, padding=1)
        self.dw, self.bn_dw = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8)
        self.up, self.conv_up = nn.Upsample(scale_factor=2), nn.Conv2d(8, 8, 3, padding=1)
        self.pool2, self.norm2 = nn.MaxPool2d(3, 1, padding=1), nn.LocalResponseNorm(3)
        self.avg, self.head = nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.pool(self.norm(self.stem(x)))
        x = F.relu(self.bn_dw(self.dw(x)) + x)
        x = self.norm2(self.pool2(self.conv_up(self.up(x))))
        return self.head(self.avg(x))


def _our_layers(backend="torch"):
    model = _randomize_bn(OurLayers()).eval()
    conv, report = convkernels.convert(model, backend=backend)
    sources = {r.source for r in report.swapped}
    assert {"LocalResponseNorm -> MaxPool2d", "MaxPool2d -> LocalResponseNorm",
            "Upsample -> Conv2d", "Conv2d -> BatchNorm2d -> +residual -> ReLU"} <= sources
    return model, conv


def _channels_last(model: nn.Module, shape) -> tuple[nn.Module, torch.Tensor]:
    return (model.to(memory_format=torch.channels_last),
            _x(shape).contiguous(memory_format=torch.channels_last))


_TRITON_HERE = pytest.mark.skipif(not INTERPRET and not torch.cuda.is_available(),
                                  reason="Triton runs here only through the interpreter")


@pytest.mark.parametrize("backend", [
    "torch", pytest.param("triton", marks=[requires_triton(), pytest.mark.triton, _TRITON_HERE])])
def test_our_layers_keep_channels_last(backend):
    model, conv = _our_layers(backend)
    model, x = _channels_last(model, (2, 3, 16, 16) if backend == "torch" else (1, 3, 8, 8))
    conv = conv.to(memory_format=torch.channels_last)
    ours, theirs = _probe(conv, x), _probe(model, x)
    assert len(ours.layout_changes) <= len(theirs.layout_changes), ours.layout_changes
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x), rtol=1e-4, atol=1e-4)


def test_resnet18_channels_last_has_no_layout_round_trips():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = _randomize_bn(torchvision.models.resnet18(num_classes=10)).eval()
    model, x = _channels_last(model, (2, 3, 32, 32))
    conv, _ = convkernels.convert(model, backend="torch")
    ours, theirs = _probe(conv, x), _probe(model, x)
    assert ours.layout_changes == theirs.layout_changes == []
    assert ours.host_syncs == []


@pytest.mark.parametrize("backend", [None, "torch"])   # None: auto, decided per call
def test_no_host_sync_after_warm_up(backend):
    _, conv = _our_layers(backend)
    assert _probe(conv, _x((2, 3, 16, 16))).host_syncs == []


@requires_triton()
@pytest.mark.triton
@_TRITON_HERE
def test_no_host_sync_after_warm_up_triton_backend():
    device = "cpu" if INTERPRET else "cuda"
    _, conv = _our_layers("triton")
    conv = conv.to(device)
    assert _probe(conv, _x((1, 3, 8, 8)).to(device)).host_syncs == []


def test_compiles_as_one_graph_and_is_not_recompiled():
    model, conv = _our_layers()
    x = _x((2, 3, 16, 16))
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(conv)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    compiles = []

    def counting_backend(gm, example_inputs):
        compiles.append(gm)
        return gm.forward

    torch._dynamo.reset()
    compiled = torch.compile(conv, backend=counting_backend, dynamic=False, fullgraph=True)
    with torch.no_grad():
        for seed in range(3):   # new values, same shapes: one compile
            x = _x((2, 3, 16, 16), seed=seed)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    assert len(compiles) == 1
