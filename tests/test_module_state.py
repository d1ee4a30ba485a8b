"""Fused modules and converted models stay equal to the torch modules through every state
change torch honours (training steps, load_state_dict, in-place edits, dtype moves), and
through serialization (pickle / torch.save, deepcopy, torch.export, torch.jit)."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F
from test_convert import UserNet, _randomize_bn
from torch import nn

import convkernels
from convkernels._convert.chains import TracedForward
from convkernels.nn import ConvBNReLU2d
from harness import assert_within_rule


def _x(shape=(2, 3, 12, 12), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


class _TorchChain(nn.Module):
    """What a ConvBNReLU2d computes, on its own (shared) torch children."""

    def __init__(self, fused: ConvBNReLU2d):
        super().__init__()
        self.conv, self.bn = fused.conv, fused.bn

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def _fused_module():
    torch.manual_seed(0)
    m = ConvBNReLU2d(3, 6, 3, padding=1, backend="torch")
    _randomize_bn(m)
    return m, _TorchChain(m)


def _converted_model():
    torch.manual_seed(0)
    model = _randomize_bn(UserNet())
    converted, _ = convkernels.convert(model, backend="torch")
    return converted, model


SUBJECTS = {"ConvBNReLU2d": _fused_module, "converted": _converted_model}


# ---- state changes: each is applied to ours and to the torch reference ----------------------

def _train_step(m):
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m(_x((4, 3, 12, 12), seed=1) * 2 + 0.5).square().mean().backward()
    opt.step()
    opt.zero_grad()
    m.eval()


def _train_forward_without_grad(m):
    m.train()
    with torch.no_grad():
        m(_x((4, 3, 12, 12), seed=2) * 3 - 1)
    m.eval()


def _load_state_dict(m):
    g = torch.Generator().manual_seed(3)
    sd = {k: (v + 0.3 * torch.rand(v.shape, generator=g, dtype=v.dtype)
              if v.is_floating_point() else v) for k, v in m.state_dict().items()}
    m.load_state_dict(sd)


def _edit_bn(attr):
    def edit(m):
        with torch.no_grad():
            for bn in m.modules():
                if isinstance(bn, nn.BatchNorm2d):
                    getattr(bn, attr).mul_(1.5).add_(0.25)
    edit.__name__ = f"edit_{attr}"
    return edit


def _edit_conv_bias(m):
    with torch.no_grad():
        for conv in m.modules():
            if isinstance(conv, nn.Conv2d) and conv.bias is not None:
                conv.bias.add_(0.5)


STATE_CHANGES = [_train_step, _train_forward_without_grad, _load_state_dict,
                 _edit_bn("running_mean"), _edit_bn("running_var"), _edit_bn("weight"),
                 _edit_bn("bias"), _edit_conv_bias]


@pytest.mark.parametrize("subject", list(SUBJECTS))
@pytest.mark.parametrize("change", STATE_CHANGES, ids=lambda f: f.__name__.lstrip("_"))
def test_eval_output_follows_every_state_change(subject, change):
    ours, reference = SUBJECTS[subject]()
    ours.eval()
    reference.eval()
    x = _x()
    with torch.no_grad():
        before = ours(x)   # fills the fold cache
        torch.testing.assert_close(before, reference(x), rtol=1e-5, atol=1e-5)
    change(ours)
    if reference is not ours and subject == "converted":
        change(reference)
    with torch.no_grad():
        after, expected = ours(x), reference(x)
    assert not torch.allclose(expected, before, atol=1e-3), "the change changed nothing"
    torch.testing.assert_close(after, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("subject", list(SUBJECTS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_eval_output_follows_dtype_moves(subject, dtype):
    ours, reference = SUBJECTS[subject]()
    ours.eval()
    reference.eval()
    x = _x()
    with torch.no_grad():
        ours(x)   # a float32 fold is cached first
        ours.to(dtype)
        if subject == "converted":
            reference.to(dtype)
        reference64 = copy.deepcopy(reference).double()
        out, torch_out, ref64 = ours(x.to(dtype)), reference(x.to(dtype)), reference64(x.double())
    assert out.dtype == dtype
    assert_within_rule(out, torch_out, ref64, what=f"{subject} after .to({dtype})")


def test_half_method_refreshes_the_fold():
    ours, reference = _fused_module()
    ours.eval()
    x = _x()
    with torch.no_grad():
        ours(x)
        ours.half()
        out = ours(x.half())
        ref64 = copy.deepcopy(reference).double()(x.double())
    assert out.dtype == torch.float16
    assert_within_rule(out, reference(x.half()).detach(), ref64, what="ConvBNReLU2d.half()")


def test_fold_is_reused_while_nothing_changes():
    ours, _ = _fused_module()
    ours.eval()
    x = _x()
    with torch.no_grad():
        ours(x)
        first = ours._fold
        ours(x)
        assert ours._fold is first
        ours.train()
        ours(x)
        ours.eval()
        ours(x)
        assert ours._fold is not first


@pytest.mark.parametrize("make", [
    lambda: ConvBNReLU2d(3, 5, 3, padding=1, backend="torch"),
    lambda: convkernels.convert(nn.Sequential(nn.Conv2d(3, 5, 3, padding=1),
                                              nn.BatchNorm2d(5), nn.ReLU()),
                                backend="torch")[0],
], ids=["ConvBNReLU2d", "converted"])
def test_float64_fold_keeps_float64_precision(make):
    torch.manual_seed(0)
    m = _randomize_bn(make().double()).eval()
    x = _x().double()
    conv, bn = [c for c in m.modules() if isinstance(c, nn.Conv2d)][0], \
        [c for c in m.modules() if isinstance(c, nn.BatchNorm2d)][0]
    expected = torch.relu(F.batch_norm(F.conv2d(x, conv.weight, conv.bias, padding=1),
                                       bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                       False, 0.0, bn.eps))
    with torch.no_grad():
        torch.testing.assert_close(m(x), expected, rtol=1e-12, atol=1e-12)


# ---- serialization ---------------------------------------------------------------------------

def _eval_converted():
    converted, model = _converted_model()
    return converted.eval(), model.eval()


def _torch_save_load(m):
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


@pytest.mark.parametrize("round_trip", [
    _torch_save_load, lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy,
], ids=["torch.save", "pickle", "deepcopy"])
def test_converted_model_keeps_its_forward_through_serialization(round_trip):
    converted, model = _eval_converted()
    x = _x()
    restored = round_trip(converted)
    assert isinstance(restored.block.conv1, convkernels.nn.FusedConv2d)
    assert restored.block.forward.module is restored.block   # not the original's block
    for mode in ("eval", "train"):
        getattr(restored, mode)()
        getattr(model, mode)()
        with torch.no_grad():
            torch.testing.assert_close(restored(x), model(x), rtol=1e-5, atol=1e-5)
    # The copy's state is its own: a change to it leaves the original converted model alone.
    restored.eval()
    _edit_bn("running_mean")(restored)
    with torch.no_grad():
        assert not torch.allclose(restored(x), converted(x), atol=1e-3)


class HalvedInTraining(nn.Module):
    """A forward that branches on self.training: convert keeps one generated forward per mode."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return y * 0.5 if self.training else y


def test_forward_that_branches_on_training_survives_pickling():
    model = _randomize_bn(HalvedInTraining())
    converted, _ = convkernels.convert(model, backend="torch")
    restored = pickle.loads(pickle.dumps(converted))
    assert isinstance(restored.__dict__["forward"], TracedForward)
    x = _x()
    for mode in (True, False):
        model.train(mode), restored.train(mode)
        torch.testing.assert_close(restored(x), model(x), rtol=1e-5, atol=1e-5)


def test_torch_export_of_converted_model_matches():
    converted, model = _eval_converted()
    x = _x()
    exported = torch.export.export(converted, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-5, atol=1e-5)


def test_jit_trace_of_converted_model_matches_and_script_fails_loudly():
    converted, model = _eval_converted()
    x = _x()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the tracer's warnings about Python-level checks
        traced = torch.jit.trace(converted, (x,))
        with pytest.raises(TypeError, match="torch.jit.script cannot compile"):
            torch.jit.script(converted)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=1e-5, atol=1e-5)


# ---- modules with a cached derived weight ---------------------------------------------------

def _partial_conv():
    torch.manual_seed(0)
    return convkernels.nn.PartialConv2d([[1, 1, 0], [0, 1, 1]], 3).eval()


def _partial_conv_expected(module, x):
    return F.conv2d(x, module.dense_weight(), module.bias)


@pytest.mark.parametrize("change", ["in_place", "optimizer_step", "load_state_dict", "double"])
def test_partial_conv_dense_weight_follows_weight_changes(change):
    module, x = _partial_conv(), _x((1, 3, 8, 8))
    with torch.no_grad():
        module(x)                                     # fills the dense-weight cache
    if change == "in_place":
        with torch.no_grad():
            module.weight.mul_(-2)
    elif change == "optimizer_step":
        module.train()
        module(x).square().sum().backward()
        torch.optim.SGD(module.parameters(), lr=0.5).step()
        module.eval()
    elif change == "load_state_dict":
        state = {k: v + 1 for k, v in module.state_dict().items()}
        module.load_state_dict(state)
    else:
        module, x = module.double(), x.double()
    with torch.no_grad():
        torch.testing.assert_close(module(x), _partial_conv_expected(module, x))


def test_partial_conv_reuses_its_dense_weight_while_nothing_changes():
    module, x = _partial_conv(), _x((1, 3, 8, 8))
    with torch.no_grad():
        module(x)
        first = module._dense_cache[1]
        module(x)
        assert module._dense_cache[1] is first


def test_partial_conv_gradients_reach_the_connected_weights():
    module, x = _partial_conv().train(), _x((1, 3, 8, 8))
    module(x).sum().backward()
    expected = torch.autograd.grad(_partial_conv_expected(module, x).sum(), module.weight)[0]
    torch.testing.assert_close(module.weight.grad, expected)


@pytest.mark.parametrize("activation", ["sigmoid", "scaled_tanh", None])
def test_subsampling_torch_path_equals_the_fused_op(activation):
    torch.manual_seed(0)
    module, x = convkernels.nn.Subsampling2d(3, activation=activation), _x((2, 3, 9, 9))
    ones = x.new_ones(3, 1, 2, 2)
    fused = convkernels.ops.conv2d_affine(x, ones, module.weight, module.bias, stride=2,
                                          groups=3, backend="torch")
    expected = convkernels.nn.lenet.ACTIVATIONS[activation](fused)
    torch.testing.assert_close(module(x), expected)
