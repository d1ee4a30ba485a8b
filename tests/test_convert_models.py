"""convert() on the real models of the model zoo (docs/models.md): every torchvision
classification model listed there and timm's inception_v4, inception_resnet_v2 and legacy_xception.

For each: the converted model (torch backend: this checks the conversion, the kernels are
tested per op) gives the original's logits in eval, its state_dict loads into the original
class, and the report accounts for every Conv2d. A representative subset also takes one
training step with equal gradients, and ResNet-18 compiles with fullgraph=True. Inputs are
small (the smallest size each architecture accepts, batch 2) to keep CPU time low.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convkernels
from convkernels import nn as cknn

torchvision = pytest.importorskip("torchvision")

# (source, name, input size); big ones are marked slow (still run in CI).
MODELS = [
    ("torchvision", "alexnet", 64), ("torchvision", "vgg11", 32), ("torchvision", "vgg13", 32),
    ("torchvision", "vgg16", 32), ("torchvision", "vgg19", 32), ("torchvision", "vgg11_bn", 32),
    ("torchvision", "vgg16_bn", 32), ("torchvision", "googlenet", 64),
    ("torchvision", "inception_v3", 80), ("torchvision", "resnet18", 32),
    ("torchvision", "resnet34", 32), ("torchvision", "resnet50", 32),
    ("torchvision", "resnet101", 32), ("torchvision", "resnet152", 32),
    ("torchvision", "resnext50_32x4d", 32), ("torchvision", "resnext101_32x8d", 32),
    ("torchvision", "densenet121", 32), ("torchvision", "densenet169", 32),
    ("torchvision", "densenet201", 32), ("torchvision", "densenet161", 32),
    ("timm", "inception_v4", 80), ("timm", "inception_resnet_v2", 80),
    ("timm", "legacy_xception", 72),
]
SLOW = {"vgg19", "resnet101", "resnet152", "resnext101_32x8d", "densenet169", "densenet201",
        "densenet161", "inception_resnet_v2", "inception_v4"}


def build(source: str, name: str) -> nn.Module:
    torch.manual_seed(0)
    if source == "timm":
        timm = pytest.importorskip("timm")
        model = timm.create_model(name, pretrained=False, num_classes=10)
    else:
        kwargs = {"weights": None, "num_classes": 10}
        if name in ("googlenet", "inception_v3"):
            kwargs.update(aux_logits=False, init_weights=False)
        model = getattr(torchvision.models, name)(**kwargs)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():   # non-trivial BN statistics: folding must really be right
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.track_running_stats:
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    return model


def _params(models):
    return [pytest.param(s, n, size, id=n, marks=[pytest.mark.slow] if n in SLOW else [])
            for s, n, size in models]


def _input(size: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("source,name,size", _params(MODELS))
def test_eval_logits_and_state_dict(source, name, size):
    model = build(source, name).eval()
    conv, report = convkernels.convert(model, backend="torch")
    x = _input(size)
    with torch.no_grad():
        ref, out = model(x), conv(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    # state_dict: same keys, loads strictly into the original class
    sd = conv.state_dict()
    assert list(sd) == list(model.state_dict())
    build(source, name).load_state_dict(sd)
    # every Conv2d is accounted for: fused, swapped alone, or skipped with a reason
    convs = [p for p, m in model.named_modules() if type(m) is nn.Conv2d]
    seen = {r.path for r in report}
    missing = [p for p in convs if p not in seen]
    assert not missing, f"Conv2d layers missing from the report: {missing[:5]}"
    assert all(r.reason for r in report.skipped)
    fused = [m for m in conv.modules() if isinstance(m, cknn.FusedConv2d)]
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) and name != "densenet121":
        assert fused, "a BN network with no fused chain"


TRAIN = [("torchvision", "resnet18", 32), ("torchvision", "googlenet", 64),
         ("torchvision", "densenet121", 32), ("torchvision", "inception_v3", 80),
         ("timm", "legacy_xception", 72)]


@pytest.mark.parametrize("source,name,size", _params(TRAIN))
def test_one_training_step_gives_equal_gradients(source, name, size):
    model = build(source, name).train()
    conv, _ = convkernels.convert(model, backend="torch")
    x = _input(size, batch=4)
    torch.manual_seed(3)   # the same dropout masks in both (googlenet, inception_v3)
    loss_ref = model(x).logsumexp(1).sum()
    torch.manual_seed(3)
    loss = conv(x).logsumexp(1).sum()
    torch.testing.assert_close(loss, loss_ref, rtol=1e-4, atol=1e-4)
    loss_ref.backward()
    loss.backward()
    ours = dict(conv.named_parameters())
    for n, p in model.named_parameters():
        if p.grad is None:
            assert ours[n].grad is None, n
            continue
        scale = p.grad.abs().max().item() or 1.0
        torch.testing.assert_close(ours[n].grad, p.grad, rtol=1e-3, atol=1e-4 * scale,
                                   msg=lambda m, n=n: f"{name} {n}: {m}")
    bufs = dict(conv.named_buffers())
    for n, b in model.named_buffers():
        torch.testing.assert_close(bufs[n], b, rtol=1e-4, atol=1e-5)


def test_densenet_pre_activation_is_reported():
    """DenseNet is BN-ReLU-conv: its layers' conv1 -> norm2 -> relu2 chains fuse, the norm1
    in front of each layer stays torch and the report says why."""
    _, report = convkernels.convert(build("torchvision", "densenet121"), backend="torch")
    fused = {r.path for r in report.swapped if r.source.startswith("Conv2d -> BatchNorm2d")}
    assert "features.denseblock1.denselayer1.conv1" in fused
    kept = {r.path: r.reason for r in report.skipped}
    assert "pre-activation" in kept["features.denseblock1.denselayer1.norm1"]


@pytest.mark.slow
def test_resnet18_compiles_fullgraph():
    model = build("torchvision", "resnet18").eval()
    conv, _ = convkernels.convert(model, backend="torch")
    torch._dynamo.reset()
    compiled = torch.compile(conv, fullgraph=True, backend="aot_eager")
    x = _input(32)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.parametrize("backend", [None, "cuda", "triton"])
@pytest.mark.slow  # 10-50 s each on the H200 (Triton compile): out of make gpu-check
def test_cuda_graph_capture_replays_the_eager_result(backend):
    """A converted model inside a CUDA graph: capture, replay on new input, same as eager."""
    if backend == "cuda" and not convkernels._extension.load()[0]:
        pytest.skip("the CUDA extension is not built")
    model = build("torchvision", "resnet18").eval().cuda().half()
    model = model.to(memory_format=torch.channels_last)
    conv, _ = convkernels.convert(model, backend=backend)
    static_x = _input(64, batch=4).cuda().half().to(memory_format=torch.channels_last)
    with torch.no_grad():
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):   # warm-up (autotuning, fold caches) outside the capture
                conv(static_x)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = conv(static_x)
        new_x = _input(64, batch=4).mul(0.5).cuda().half()
        static_x.copy_(new_x)
        graph.replay()
        torch.cuda.synchronize()
        eager = conv(static_x)
        ref = model(static_x)
    torch.testing.assert_close(static_out, eager, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(static_out.float(), ref.float(), rtol=2e-2, atol=2e-2)
