"""The model-zoo bench rows and the per-layer breakdown, exercised on the CPU: a case with a
torchvision twin builds and its baseline equals ours on the torch backend; a training case
gives the same gradients; prefer_backend never asks a backend for a layer it cannot run; the
breakdown times every layer and names the op and backend."""

import dataclasses

import pytest
import torch

from convkernels import models
from convkernels.bench import cases_models
from convkernels.models._backend import prefer_backend
from convkernels.models.profile import format_breakdown, layer_breakdown


def _case(name, mode="fwd"):
    case = next(c for c in cases_models.cases() if c.network == name and c.mode == mode)
    return dataclasses.replace(case, params={**case.params, "N": 1}, dtype="fp32",
                               layout="nchw")


def test_cases_cover_every_network_and_the_targets():
    cases = cases_models.cases()
    assert {c.network for c in cases} == set(models.list_models())
    headline = {(c.network, c.mode) for c in cases if c.priority == 0}
    assert headline == {("resnet50", "fwd"), ("vgg16", "fwd"), ("alexnet", "fwd"),
                        ("googlenet", "fwd"), ("resnet50", "fwd+bwd"), ("vgg16", "fwd+bwd")}


@torch.no_grad()
def test_twin_baseline_equals_ours_on_torch_backend():
    pytest.importorskip("torchvision")   # the twin baseline of resnet18
    case = dataclasses.replace(_case("resnet18"), params={"N": 1, "C": 3, "H": 224, "W": 224})
    work = case.build(case, "cpu")
    x = work.inputs[0][..., :64, :64].contiguous()  # small: the net takes any size >= 32
    torch.testing.assert_close(work.ours("torch")(x), work.eager(x), rtol=1e-4, atol=1e-5)
    assert work.flops > 3e9 and work.min_bytes > 11e6 * 4


def test_training_case_gradients_match():
    case = _case("lenet5", "fwd+bwd")
    work = case.build(case, "cpu")
    (x,) = work.inputs
    grads = []
    for fn in (work.eager, work.ours("torch")):
        out = fn(x)
        grads.append(torch.autograd.grad(out.sum(), x)[0])
    torch.testing.assert_close(grads[0], grads[1])


def test_prefer_backend_uses_auto_where_the_backend_cannot_run():
    m = models.get_model("resnext50_32x4d")
    chosen = prefer_backend(m, "torch", "cpu", torch.float32)
    assert set(chosen.values()) == {"torch"}
    # no CUDA here: no layer may be pinned to the cuda backend
    chosen = prefer_backend(m, "cuda", "cpu", torch.float32)
    assert set(chosen.values()) == {"auto"}


def test_layer_breakdown_on_cpu():
    m = models.get_model("resnet18", backend="torch").eval()
    rows = layer_breakdown(m, torch.randn(1, 3, 32, 32), iters=1, warmup=1, dtype="fp32")
    names = [r.name for r in rows]
    assert "conv1" in names and "layer4.1.conv2" in names and "fc" in names
    conv1 = rows[names.index("conv1")]
    assert (conv1.op, conv1.backend, conv1.kind) == ("conv2d_affine", "torch", "ConvBNReLU2d")
    assert all(r.ms >= 0 for r in rows) and sum(r.gflops for r in rows) > 0.03
    assert conv1.roofline_pct is None  # no GPU peaks on the CPU
    assert "| total |" in format_breakdown(rows)
