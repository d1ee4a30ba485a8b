"""convert() on chains that are not consecutive children of one Sequential: pairs called in a
custom forward, chains that run from a custom forward into the Sequentials it calls (and
through nested ones), and the report lines for what is recognized but not fused.

Every converted model is checked against the original (eval, and training where BatchNorm is
involved) and for the invariants convert() promises: the same state_dict keys, values that
load into the original class, and every original module name still there.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from test_convert import _randomize_bn, _x
from torch import nn

import convkernels
from convkernels import nn as cknn


def _convert_and_check(model: nn.Module, x: torch.Tensor, *, train: bool = True):
    """Convert; same outputs in eval (and a training step: outputs, gradients, running
    statistics); same state_dict keys; loads into a fresh copy of the original class."""
    model = _randomize_bn(model).eval()
    names = [n for n, _ in model.named_modules()]
    conv, report = convkernels.convert(model, backend="torch")
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x), rtol=1e-5, atol=1e-5)
    assert list(conv.state_dict()) == list(model.state_dict())
    assert set(names) <= {n for n, _ in conv.named_modules()}
    fresh = copy.deepcopy(model)
    fresh.load_state_dict(conv.state_dict())   # strict
    if train:
        ref, ours = copy.deepcopy(model).train(), copy.deepcopy(conv).train()
        out_ref, out = ref(x), ours(x)
        torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-5)
        out_ref.square().sum().backward()
        out.square().sum().backward()
        grads = {n: p.grad for n, p in ours.named_parameters()}
        for n, p in ref.named_parameters():
            torch.testing.assert_close(grads[n], p.grad, rtol=1e-3, atol=1e-4,
                                       msg=lambda m, n=n: f"{n}: {m}")
        bufs = dict(ours.named_buffers())
        for n, b in ref.named_buffers():
            torch.testing.assert_close(bufs[n], b, rtol=1e-5, atol=1e-6)
    return conv, report


def _swapped(report):
    return {r.path: r for r in report.swapped}


def _skipped(report):
    return {(r.path, r.source): r.reason for r in report.skipped}


# ---- pairs in a custom forward ---------------------------------------------------------------

class PairsInForward(nn.Module):
    """AlexNet's LRN -> pool and a decoder's Upsample -> conv, called from a forward."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.LocalResponseNorm(5, k=2.0)
        self.pool = nn.MaxPool2d(3, 2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.conv2 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        x = self.pool(self.norm(F.relu(self.conv1(x))))
        return self.conv2(self.up(x))


def test_pairs_in_a_custom_forward_are_fused():
    conv, report = _convert_and_check(PairsInForward(), _x((2, 3, 13, 13)), train=False)
    swapped = _swapped(report)
    assert swapped["norm"].source == "LocalResponseNorm -> MaxPool2d"
    assert swapped["norm"].target.startswith("LRNMaxPool2d (order='lrn_pool'")
    assert swapped["conv2"].source == "Upsample -> Conv2d"
    assert swapped["conv2"].target.startswith("ResizeConv2d (mode='bilinear'")
    assert isinstance(conv.norm, cknn.LRNMaxPool2d)
    assert isinstance(conv.conv2, cknn.ResizeConv2d)
    assert conv.conv2.weight is not None and conv.up is not None   # every slot still there
    calls = []
    for name in ("up", "pool", "norm", "conv2"):
        getattr(conv, name).register_forward_hook(lambda *a, name=name: calls.append(name))
    with torch.no_grad():
        conv(_x((1, 3, 13, 13)))
    assert calls == ["norm", "conv2"]   # the up and pool calls left the forward
    assert "up" not in {r.path for r in report.skipped}   # not "kept": its work moved


def test_pairs_in_a_custom_forward_pickle_and_deepcopy():
    conv, _ = convkernels.convert(PairsInForward().eval(), backend="torch")
    x = _x((1, 3, 13, 13))
    with torch.no_grad():
        expected = conv(x)
        for clone in (copy.deepcopy(conv), pickle.loads(pickle.dumps(conv))):
            torch.testing.assert_close(clone(x), expected)


def test_pool_lrn_pair_with_a_shared_pool_module():
    """GoogLeNet's pool -> LRN where the pool module is called again later: the LRN call is
    removed from the forward, the pool's slot holds the fused pair and is called once."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool1, self.norm = nn.MaxPool2d(3, 1, padding=1), nn.LocalResponseNorm(3)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.norm(self.pool1(x)))

    conv, report = _convert_and_check(Net(), _x(), train=False)
    assert _swapped(report)["pool1"].target.startswith("LRNMaxPool2d (order='pool_lrn'")


# ---- chains across containers ----------------------------------------------------------------

class FeaturesThenBN(nn.Module):
    """A chain that starts in a Sequential (its last conv) and ends in the forward."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.head(F.relu(self.bn(self.features(x))))


def test_chain_from_a_sequential_into_the_forward():
    conv, report = _convert_and_check(FeaturesThenBN(), _x())
    swapped = _swapped(report)
    assert swapped["features.3"].source == "Conv2d -> BatchNorm2d -> ReLU"
    assert swapped["features.3"].target == "FusedConv2d (+ FoldedBatchNorm2d at bn)"
    assert swapped["features.0"].source == "Conv2d -> BatchNorm2d -> ReLU"
    assert isinstance(conv.features[3], cknn.FusedConv2d) and conv.features[3].relu
    assert isinstance(conv.bn, cknn.FoldedBatchNorm2d)
    assert isinstance(conv.features[2], nn.Identity)


def test_the_rewritten_forward_still_calls_the_container():
    """The generated forward calls self.features, not its children: hooks keep firing."""
    conv, _ = convkernels.convert(FeaturesThenBN().eval(), backend="torch")
    calls = []
    conv.features.register_forward_hook(lambda *a: calls.append("features"))
    with torch.no_grad():
        conv(_x())
    assert calls == ["features"]


def test_chain_split_across_nested_sequentials():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1)),
        nn.Sequential(nn.Sequential(nn.BatchNorm2d(8)), nn.ReLU(inplace=True)),
        nn.Sequential(nn.Upsample(scale_factor=2)), nn.Conv2d(8, 4, 3, padding=1),
    )
    conv, report = _convert_and_check(model, _x())
    swapped = _swapped(report)
    assert swapped["0.0"].source == "Conv2d -> BatchNorm2d -> ReLU"
    assert swapped["3"].source == "Upsample -> Conv2d"
    assert isinstance(conv[0][0], cknn.FusedConv2d)
    assert isinstance(conv[1][0][0], cknn.FoldedBatchNorm2d)
    assert isinstance(conv[1][1], nn.Identity) and isinstance(conv[2][0], nn.Identity)


def test_chain_into_a_sequential_called_from_the_forward():
    """conv in the forward, then a Sequential(BatchNorm2d, ReLU) post block, then a
    ModuleList of such blocks."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.post = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU())
            self.blocks = nn.ModuleList(
                nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)) for _ in range(2))

        def forward(self, x):
            x = self.post(self.conv(x))
            for block in self.blocks:
                x = torch.relu(block(x))
            return x

    conv, report = _convert_and_check(Net(), _x())
    swapped = _swapped(report)
    assert swapped["conv"].source == "Conv2d -> BatchNorm2d -> ReLU"
    assert swapped["blocks.0.0"].source == swapped["blocks.1.0"].source == (
        "Conv2d -> BatchNorm2d -> ReLU")
    assert isinstance(conv.blocks[1][0], cknn.FusedConv2d) and conv.blocks[1][0].relu


def test_residual_chain_whose_conv_is_in_a_sequential_fuses_conv_and_bn():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.branch = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3))

        def forward(self, x):
            return F.relu(self.branch(x) + x)

    _, report = _convert_and_check(Net(), _x())
    rec = _swapped(report)["branch.0"]
    assert rec.source == "Conv2d -> BatchNorm2d" and "residual add stays separate" in rec.reason


def test_a_sequential_called_twice_keeps_its_own_chains():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3))
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            return self.bn(self.block(self.block(x)))

    conv, report = _convert_and_check(Twice(), _x())
    assert _swapped(report)["block.0"].source == "Conv2d -> BatchNorm2d"
    assert type(conv.bn) is nn.BatchNorm2d   # not folded into a conv called twice


def test_chain_that_differs_between_modes_is_skipped():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 4, 3))
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            x = self.features(x)
            return x if self.training else self.bn(x)

    conv, report = _convert_and_check(Net(), _x())
    assert "differs between train and eval" in _skipped(report)[
        ("features.0", "Conv2d -> BatchNorm2d")]


# ---- what is not fused, and why ----------------------------------------------------------------

class NearMisses(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1), ScaledBN(4)
        self.up = nn.Upsample(scale_factor=2, mode="bicubic")
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1)
        self.norm = nn.LocalResponseNorm(3)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.conv4, self.bn4 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv1(x)
        x = self.bn1(y) + y
        x = self.bn2(self.conv2(x))
        x = self.conv3(self.up(x))
        x, _ = self.pool(self.norm(x))
        x = self.bn4(self.conv4(x))
        return self.bn4(self.conv4(x))


class ScaledBN(nn.BatchNorm2d):
    def forward(self, x):
        return 2 * super().forward(x)


def test_report_says_why_a_pair_is_not_fused_and_how_to_fix_it():
    conv, report = _convert_and_check(NearMisses(), _x(), train=False)
    reasons = _skipped(report)
    assert "also used by add" in reasons[("conv1", "Conv2d -> BatchNorm2d")]
    assert "ScaledBN overrides BatchNorm2d.forward" in reasons[("conv2", "Conv2d -> BatchNorm2d")]
    assert "'bicubic' has no fused kernel" in reasons[("up", "Upsample -> Conv2d")]
    assert "return_indices=True" in reasons[("norm", "LocalResponseNorm -> MaxPool2d")]
    assert "called 2 times" in reasons[("conv4", "Conv2d -> BatchNorm2d")]
    # The BatchNorm left alone points at the line that explains it.
    assert "conv1" in reasons[("bn1", "BatchNorm2d")]
    assert not [r for r in report.swapped if "->" in r.source]   # layers swapped one by one


def test_untraceable_forward_still_fuses_its_sequentials():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

        def forward(self, x):
            if x.sum() > 0:
                x = -x
            return self.body(x)

    conv, report = _convert_and_check(DataDependent(), _x())
    assert "torch.fx" in _skipped(report)[("", "DataDependent.forward")]
    assert _swapped(report)["body.0"].source == "Conv2d -> BatchNorm2d -> ReLU"


@pytest.mark.parametrize("model_fn", [PairsInForward, FeaturesThenBN])
def test_converting_twice_changes_nothing_more(model_fn):
    conv, _ = convkernels.convert(model_fn().eval(), backend="torch")
    again, report = convkernels.convert(conv, backend="torch")
    assert not report.swapped
    x = _x((1, 3, 13, 13))
    with torch.no_grad():
        torch.testing.assert_close(again(x), conv(x))


def test_interpolate_then_conv_in_a_custom_forward():
    """A decoder's F.interpolate -> conv; one whose size comes from another tensor is
    reported with the reason."""
    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x, skip):
            x = self.conv1(F.interpolate(x, scale_factor=2, mode="bilinear"))
            return self.conv2(F.interpolate(x, size=skip.shape[-2:]))

    model = Decoder().eval()
    x, skip = _x((2, 3, 6, 6)), _x((2, 4, 17, 17), seed=1)
    conv, report = convkernels.convert(model, backend="torch")
    rec = _swapped(report)["conv1"]
    assert rec.source == "interpolate -> Conv2d" and rec.target.startswith(
        "ResizeConv2d (mode='bilinear'")
    assert isinstance(conv.conv1, cknn.ResizeConv2d)
    assert "size is computed in the forward" in _skipped(report)[
        ("conv2", "interpolate -> Conv2d")]
    with torch.no_grad():
        torch.testing.assert_close(conv(x, skip), model(x, skip), rtol=1e-5, atol=1e-5)
    assert list(conv.state_dict()) == list(model.state_dict())


class SeparableConv(nn.Module):
    """timm's SeparableConv2d: a block whose forward ends with a conv."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


def test_chain_from_inside_a_child_block_into_its_sequential():
    """Xception's rep: [ReLU, SeparableConv, BN, ReLU, SeparableConv, BN] plus a residual in
    the block's forward."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.rep = nn.Sequential(nn.ReLU(), SeparableConv(3, 6), nn.BatchNorm2d(6),
                                     nn.ReLU(inplace=True), SeparableConv(6, 3),
                                     nn.BatchNorm2d(3))

        def forward(self, x):
            return self.rep(x) + x

    conv, report = _convert_and_check(Block(), _x())
    swapped = _swapped(report)
    assert swapped["rep.1.pointwise"].source == "Conv2d -> BatchNorm2d -> ReLU"
    assert swapped["rep.4.pointwise"].source == "Conv2d -> BatchNorm2d"
    assert isinstance(conv.rep[1], SeparableConv)   # the block keeps its class and forward
    assert isinstance(conv.rep[1].pointwise, cknn.FusedConv2d)
    assert isinstance(conv.rep[3], nn.Identity)
    assert not report.skipped


def test_a_relu_inside_a_child_block_stays_there():
    """conv -> block(BN, F.relu): the BN folds, the block's own relu call cannot be removed
    from its forward by its parent, so it stays (and the report says so)."""
    class BNReLU(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            return F.relu(self.bn(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.post = nn.Conv2d(3, 4, 3), BNReLU()

        def forward(self, x):
            return self.post(self.conv(x))

    conv, report = _convert_and_check(Net(), _x())
    rec = _swapped(report)["conv"]
    assert rec.source == "Conv2d -> BatchNorm2d" and "ReLU stays separate" in rec.reason
    assert isinstance(conv.post.bn, cknn.FoldedBatchNorm2d)


def test_a_forward_that_stores_state_is_not_regenerated():
    """torch.fx does not record ``self.last = x``: such a forward keeps running as written
    (the report says why its chain is not fused), with no Proxy left behind."""
    class Remembers(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
            self.last = None

        def forward(self, x):
            self.last = self.bn(self.conv(x))
            return self.last

    conv, report = _convert_and_check(Remembers(), _x())
    assert "assigns self.last" in _skipped(report)[("", "Remembers.forward")]
    conv(_x())
    assert isinstance(conv.last, torch.Tensor)
