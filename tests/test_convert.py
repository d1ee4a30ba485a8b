"""convkernels.convert(): what it swaps, what it leaves, and that the model stays the same
function with the same state_dict (eval and training), on small models built to exercise each
pattern and on the real torchvision/timm models of the model zoo (tests/test_convert_models.py).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convkernels
from convkernels import nn as cknn
from harness import backend_params


def _x(shape=(2, 3, 12, 12), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so folding is really tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                if m.affine:
                    m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
                    m.bias.copy_(0.2 * torch.randn(m.num_features, generator=g))
    return model


class Bottleneckish(nn.Module):
    """A user-style block: one ReLU module called three times, a residual add, a functional
    relu and a conv whose output is used twice (must not be fused)."""

    def __init__(self, c=8):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv3, self.bn3 = nn.Conv2d(c, c, 1), nn.BatchNorm2d(c)
        self.conv4, self.bn4 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        out = self.relu(out)
        y = self.conv4(out)
        out = self.relu(self.bn4(y) + y)       # conv4's output used twice: not a chain
        return self.pool(out)


class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8))
        self.block = Bottleneckish(8)
        self.head = nn.Linear(8 * 6 * 6, 5)

    def forward(self, x):
        return self.head(torch.flatten(self.block(self.stem(x)), 1))


def _kinds(report):
    return [(r.path, r.source, r.status) for r in report]


def test_user_model_patterns_are_found():
    model = _randomize_bn(UserNet()).eval()
    conv, report = convkernels.convert(model, backend="torch")
    swapped = {r.path: r.source for r in report.swapped}
    assert swapped["stem.0"] == "Conv2d -> BatchNorm2d -> ReLU"
    assert swapped["stem.3"] == "Conv2d -> BatchNorm2d"          # depthwise, no ReLU after
    assert swapped["block.conv1"] == "Conv2d -> BatchNorm2d -> ReLU"   # shared ReLU module
    assert swapped["block.conv2"] == "Conv2d -> BatchNorm2d -> ReLU"   # F.relu
    assert swapped["block.conv3"] == "Conv2d -> BatchNorm2d -> +residual -> ReLU"
    assert swapped["block.conv4"] == "Conv2d"     # output used twice: swapped alone
    assert "block.bn4" in {r.path for r in report.skipped}
    assert isinstance(conv.block.conv3, cknn.FusedConv2d)
    assert isinstance(conv.block.bn3, cknn.FoldedBatchNorm2d)
    assert isinstance(conv.block, Bottleneckish)   # the class is kept
    assert isinstance(conv.stem[2], nn.Identity)
    # The original is untouched (inplace=False) and still the same function.
    assert type(model.block.conv1) is nn.Conv2d
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x), rtol=1e-5, atol=1e-5)


def test_state_dict_round_trip_into_the_original_class():
    model = _randomize_bn(UserNet())
    conv, _ = convkernels.convert(model, backend="torch")
    sd = conv.state_dict()
    assert list(sd) == list(model.state_dict())
    fresh = UserNet()
    fresh.load_state_dict(sd)   # strict
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_training_step_matches_and_updates_running_stats():
    torch.manual_seed(0)
    model = _randomize_bn(UserNet()).train()
    conv, _ = convkernels.convert(model, backend="torch")
    x = _x((4, 3, 12, 12))
    out_ref, out = model(x), conv(x)
    torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-5)
    out_ref.square().sum().backward()
    out.square().sum().backward()
    ref_params, our_params = dict(model.named_parameters()), dict(conv.named_parameters())
    assert list(ref_params) == list(our_params)
    for name, p in ref_params.items():
        torch.testing.assert_close(our_params[name].grad, p.grad, rtol=1e-3, atol=1e-4,
                                   msg=lambda m, n=name: f"{n}: {m}")
    for name, buf in model.named_buffers():
        torch.testing.assert_close(dict(conv.named_buffers())[name], buf, rtol=1e-5,
                                   atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def test_frozen_batch_norm_stays_frozen():
    """Putting only the BN layers in eval (fine-tuning) must keep their statistics fixed."""
    model = _randomize_bn(UserNet()).train()
    conv, _ = convkernels.convert(model, backend="torch")
    for net in (model, conv):
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    before = copy.deepcopy(conv.state_dict())
    x = _x((3, 3, 12, 12))
    torch.testing.assert_close(conv(x), model(x), rtol=1e-5, atol=1e-5)
    for k, v in conv.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_forward_that_branches_on_training_keeps_both_modes():
    class NoisyInTraining(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            y = torch.relu(self.bn(self.conv(x)))
            if self.training:
                y = y * 0.5   # a trace freezes this branch: both modes must be kept
            return y

    for mode in (True, False):   # convert in one mode, run in both
        model = _randomize_bn(NoisyInTraining()).train(mode)
        conv, report = convkernels.convert(model, backend="torch")
        assert [r.source for r in report.swapped] == ["Conv2d -> BatchNorm2d -> ReLU"]
        x = _x()
        for run_mode in (True, False):
            model.train(run_mode), conv.train(run_mode)
            torch.testing.assert_close(conv(x), model(x), rtol=1e-5, atol=1e-5)


def test_timm_batch_norm_act_is_fused():
    timm_layers = pytest.importorskip("timm.layers")
    model = _randomize_bn(timm_layers.ConvNormAct(3, 8, 3, apply_act=True)).eval()
    conv, report = convkernels.convert(model, backend="torch")
    (rec,) = report.swapped
    assert rec.source == "Conv2d -> BatchNorm2d -> ReLU" and conv.conv.relu   # BN+act
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x), rtol=1e-5, atol=1e-5)


def test_inplace_and_filters():
    model = UserNet()
    same, report = convkernels.convert(model, inplace=True, backend="torch",
                                       exclude=["block.*"])
    assert same is model
    assert isinstance(model.stem[0], cknn.FusedConv2d)
    assert type(model.block.conv1) is nn.Conv2d
    assert all(not r.path.startswith("block.") for r in report)
    _, report = convkernels.convert(UserNet(), include=["block.conv3"], backend="torch")
    assert [r.path for r in report.swapped] == ["block.conv3"]


def test_subclasses_that_override_forward_are_left_alone():
    class ScaledConv(nn.Conv2d):
        def forward(self, x):
            return 2 * super().forward(x)

    model = nn.Sequential(ScaledConv(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          ScaledConv(4, 4, 1)).eval()
    conv, report = convkernels.convert(model, backend="torch")
    assert type(conv[0]) is ScaledConv and type(conv[3]) is ScaledConv
    reasons = {r.path: r.reason for r in report.skipped}
    assert "overrides Conv2d.forward" in reasons["0"] and "overrides" in reasons["3"]
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x))


def test_untraceable_forward_is_reported_and_layers_still_swapped():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            if x.sum() > 0:      # control flow on a value: torch.fx cannot trace it
                x = -x
            return self.bn(self.conv(x))

    model = _randomize_bn(DataDependent()).eval()
    conv, report = convkernels.convert(model, backend="torch")
    (skip,) = [r for r in report.skipped if r.source == "DataDependent.forward"]
    assert "torch.fx" in skip.reason
    assert type(conv.conv) is cknn.Conv2d    # swapped on its own
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x))


def test_conv_transpose_needs_explicit_consent():
    model = nn.Sequential(nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1))
    _, report = convkernels.convert(model)
    (rec,) = report.records
    assert rec.status == "skipped" and "resize_conv=True" in rec.reason


def test_report_prints_a_table_and_serializes():
    _, report = convkernels.convert(UserNet(), backend="torch")
    text = str(report)
    assert text.splitlines()[0].split() == ["module", "from", "to", "backend", "note"]
    assert "block.conv3" in text and "skipped" in text
    assert report.summary() in text and repr(report).startswith("ConvertReport(")
    rows = report.to_dicts()
    assert rows and set(rows[0]) == {"path", "source", "target", "status", "reason", "backend"}
    assert len(report) == len(rows) == len(report.swapped) + len(report.skipped)


@pytest.mark.parametrize("bad,match", [
    (dict(backend="gpu"), "backend must be"),
    (dict(include="layer1.*"), "list of patterns"),
])
def test_bad_arguments(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        convkernels.convert(UserNet(), **bad)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        convkernels.convert(lambda x: x)


def test_converting_twice_changes_nothing_more():
    conv, _ = convkernels.convert(UserNet(), backend="torch")
    again, report = convkernels.convert(conv, backend="torch")
    assert not report.swapped
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x), conv.eval()(x))


@pytest.mark.parametrize("backend,device", backend_params(kernels_only=True))
def test_converted_model_runs_on_kernel_backends(backend, device):
    model = _randomize_bn(UserNet()).eval().to(device)
    conv, _ = convkernels.convert(model, backend=backend)
    x = _x().to(device)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x), rtol=1e-4, atol=1e-4)


def test_compile_fullgraph_without_graph_breaks():
    model = _randomize_bn(UserNet()).eval()
    conv, _ = convkernels.convert(model, backend="torch")
    torch._dynamo.reset()
    compiled = torch.compile(conv, fullgraph=True, backend="aot_eager")
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


def test_cli_convert_report(capsys):
    pytest.importorskip("torchvision")
    from convkernels import cli
    assert cli.main(["convert-report", "torchvision:resnet18", "--backend", "torch",
                     "--check", "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "layer1.0.conv2" in out and "+residual" in out
    assert "state_dict keys identical" in out
    assert cli.main(["convert-report", "torchvision:resnet18", "--json",
                     "--include", "layer1.*"]) == 0
    import json
    records = json.loads(capsys.readouterr().out)
    assert records and all(r["path"].startswith("layer1.") for r in records)
    assert cli.main(["convert-report", "resnet18"]) == 2
    assert "SOURCE:NAME" in capsys.readouterr().err


def test_pairs_lrn_pool_and_upsample_conv():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.LocalResponseNorm(5, k=2.0),
        nn.MaxPool2d(3, 2),                                     # AlexNet order
        nn.MaxPool2d(3, 1, padding=1), nn.LocalResponseNorm(3),  # GoogLeNet order
        nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(8, 4, 3, padding=1),
        nn.Upsample(scale_factor=2.0), nn.Conv2d(4, 4, 3, padding=1),
        nn.Upsample(size=40), nn.Conv2d(4, 2, 3, padding=1),    # size=: stays
    ).eval()
    conv, report = convkernels.convert(model, backend="torch")
    swapped = {r.path: r.target for r in report.swapped}
    assert swapped["2"].startswith("LRNMaxPool2d (order='lrn_pool'")
    assert swapped["4"].startswith("LRNMaxPool2d (order='pool_lrn'")
    assert swapped["7"].startswith("ResizeConv2d (mode='bilinear'")
    assert swapped["9"].startswith("ResizeConv2d (mode='nearest'")
    assert "size=40" in {r.path: r.reason for r in report.skipped}["10"]
    assert isinstance(conv[7], cknn.ResizeConv2d) and conv[7].weight is conv[7].weight
    assert list(conv.state_dict()) == list(model.state_dict())
    x = _x((2, 3, 19, 19))
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x), rtol=1e-4, atol=1e-5)
