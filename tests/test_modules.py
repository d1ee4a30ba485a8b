"""convkernels.nn.Conv2d and ConvBNReLU2d behave like the torch modules they replace."""

import copy

import pytest
import torch

import convkernels
from convkernels import nn as cknn
from harness import assert_within_rule, backend_params


def _x(device="cpu", shape=(2, 3, 9, 9), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device)


@pytest.mark.parametrize("kwargs", [
    dict(in_channels=3, out_channels=8, kernel_size=3),
    dict(in_channels=3, out_channels=8, kernel_size=(3, 5), stride=2, padding=(1, 2), bias=False),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, dilation=2,
         padding_mode="circular"),
    dict(in_channels=3, out_channels=6, kernel_size=4, padding="same"),
])
@pytest.mark.parametrize("backend,device", backend_params())
def test_conv2d_is_a_drop_in_torch_conv(kwargs, backend, device):
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(**kwargs).to(device)
    ours = cknn.Conv2d(**kwargs, backend=backend).to(device)
    assert isinstance(ours, torch.nn.Conv2d)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = _x(device)
    ref = torch.nn.Conv2d(**kwargs).double().to(device)
    ref.load_state_dict(theirs.state_dict())
    assert_within_rule(ours(x), theirs(x), ref(x.double()), what=str(kwargs))


def test_conv2d_repr_and_defaults_follow_torch():
    a, b = torch.nn.Conv2d(3, 8, 3, stride=2), cknn.Conv2d(3, 8, 3, stride=2)
    assert repr(b) == repr(a)  # no backend given: identical
    assert "backend='triton'" in repr(cknn.Conv2d(3, 8, 3, backend="triton"))
    for attr in ("stride", "padding", "dilation", "groups", "padding_mode"):
        assert getattr(a, attr) == getattr(b, attr)


def test_conv2d_from_torch_shares_parameters():
    conv = torch.nn.Conv2d(3, 4, 3)
    ours = cknn.Conv2d.from_torch(conv)
    assert ours.weight is conv.weight and ours.bias is conv.bias
    x = _x()
    torch.testing.assert_close(ours(x), conv(x))


def _torch_chain(conv_kwargs, bn_kwargs, relu=True):
    layers = [torch.nn.Conv2d(**conv_kwargs), torch.nn.BatchNorm2d(conv_kwargs["out_channels"],
                                                                  **bn_kwargs)]
    return torch.nn.Sequential(*layers, *( [torch.nn.ReLU()] if relu else []))


@pytest.mark.parametrize("bn_kwargs", [{}, dict(momentum=None), dict(affine=False),
                                       dict(track_running_stats=False), dict(eps=1e-3)],
                         ids=["default", "cumulative", "no-affine", "no-running", "eps"])
@pytest.mark.parametrize("backend,device", backend_params())
def test_conv_bn_relu_module_train_then_eval(bn_kwargs, backend, device):
    conv_kwargs = dict(in_channels=3, out_channels=5, kernel_size=3, padding=1)
    torch.manual_seed(0)
    chain = _torch_chain(conv_kwargs, bn_kwargs).to(device)
    with torch.no_grad():  # non-trivial BN state
        if chain[1].affine:
            chain[1].weight.uniform_(0.5, 1.5)
            chain[1].bias.uniform_(-0.5, 0.5)
    fused = cknn.ConvBNReLU2d.from_modules(copy.deepcopy(chain[0]), copy.deepcopy(chain[1]),
                                           torch.nn.ReLU(), backend=backend)
    ref_chain = copy.deepcopy(chain).double()
    for step in range(3):  # three training steps: running stats and num_batches_tracked
        x = _x(device, seed=step)
        assert_within_rule(fused(x), chain(x), ref_chain(x.double()), what=f"train step {step}")
    for name, buf in chain[1].named_buffers():
        torch.testing.assert_close(getattr(fused.bn, name), buf, msg=name)
    for m in (chain, fused, ref_chain):
        m.eval()
    x = _x(device, seed=9)
    assert_within_rule(fused(x), chain(x), ref_chain(x.double()), what="eval")


def test_eval_fold_cache_tracks_parameter_changes():
    torch.manual_seed(0)
    m = cknn.ConvBNReLU2d(3, 4, 3, padding=1).eval()
    chain = torch.nn.Sequential(m.conv, m.bn, torch.nn.ReLU()).eval()
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(m(x), chain(x))
        first = m._fold
        m(x)
        assert m._fold is first, "fold should be reused while nothing changed"
        m.bn.running_mean.add_(0.5)
        m.bn.weight.mul_(2)
        torch.testing.assert_close(m(x), chain(x))
        assert m._fold is not first, "fold must be recomputed after a buffer changed"


def test_conv_bn_relu_state_dict_moves_to_torch_modules():
    m = cknn.ConvBNReLU2d(3, 4, 3, bias=False)
    keys = set(m.state_dict())
    assert keys == {"conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                    "bn.num_batches_tracked"}
    conv, bn = torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4)
    conv.load_state_dict(m.conv.state_dict())
    bn.load_state_dict(m.bn.state_dict())
    m2 = cknn.ConvBNReLU2d(3, 4, 3, bias=False)
    m2.load_state_dict(m.state_dict())


def test_conv_bn_relu_residual_argument():
    torch.manual_seed(0)
    m = cknn.ConvBNReLU2d(4, 4, 3, padding=1).eval()
    x, r = _x(shape=(2, 4, 6, 6)), _x(shape=(2, 4, 6, 6), seed=5)
    expect = torch.relu(m.bn(m.conv(x)) + r)
    torch.testing.assert_close(m(x, residual=r), expect)


def test_from_modules_validates():
    with pytest.raises(ValueError, match="BatchNorm2d has 5 features but the conv has 4"):
        cknn.ConvBNReLU2d.from_modules(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(5))
    with pytest.raises(TypeError, match="expects"):
        cknn.ConvBNReLU2d.from_modules(torch.nn.Linear(3, 4), torch.nn.BatchNorm2d(4))
    with pytest.raises(TypeError, match="relu must be nn.ReLU"):
        cknn.ConvBNReLU2d.from_modules(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                       torch.nn.Sigmoid())


def test_module_backend_is_passed_through():
    m = cknn.ConvBNReLU2d(3, 4, 3, backend="cuda")
    with pytest.raises(convkernels.BackendUnavailableError, match="backend 'cuda' cannot run"):
        m(_x())
