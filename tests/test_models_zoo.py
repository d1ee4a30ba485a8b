"""The model zoo against torchvision/timm: same parameter counts, state_dicts that load
(through the documented key maps), the same eval logits on the CPU.

BN running statistics and affine parameters of the reference are randomized before the copy,
so a BN wired to the wrong conv (or skipped) changes the logits instead of hiding behind
mean 0 / var 1. Inputs are batch 1 at the smallest size each architecture takes, to keep the
CPU time low; the biggest networks are marked slow (CI runs them too).
"""

import pytest
import torch

from convkernels import models

# Parameter counts the papers name.
KNOWN_PARAMS = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "resnet50": 25_557_032,
    "resnext50_32x4d": 25_028_904,
    "densenet121": 7_978_856,
    "inception_v4": 42_679_816,
    "inception_resnet_v2": 55_843_464,
    "xception": 22_855_952,
}
# Without the auxiliary heads (which the papers' numbers exclude).
KNOWN_PARAMS_NO_AUX = {"googlenet": 6_624_904, "inception_v3": 23_834_568}

SLOW = {"densenet201", "densenet169", "densenet161", "resnet152", "resnet101",
        "resnext101_32x8d", "inception_resnet_v2", "inception_v4", "vgg19_bn", "vgg19",
        "vgg16_bn", "vgg13_bn"}

WITH_REFERENCE = [n for n in models.list_models() if models.model_info(n).reference]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _randomize_bn(model: torch.nn.Module, gen: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def _param(name):
    return pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name


def test_every_reference_is_listed():
    assert set(KNOWN_PARAMS) | set(KNOWN_PARAMS_NO_AUX) <= set(models.list_models())
    assert len(WITH_REFERENCE) >= 20


@pytest.mark.parametrize("name", [_param(n) for n in WITH_REFERENCE])
@torch.no_grad()
def test_same_logits_as_reference(name):
    torch.manual_seed(0)
    info = models.model_info(name)
    pytest.importorskip(info.reference.split(":")[0])   # torchvision / timm
    reference = models.reference_model(name).eval()
    _randomize_bn(reference, torch.Generator().manual_seed(1))
    with torch.device("meta"):  # no init of our own: every tensor comes from the reference
        ours = models.get_model(name, backend="torch").eval()  # not the Triton interpreter
    assert n_params(ours) == n_params(reference)
    if name in KNOWN_PARAMS:
        assert n_params(ours) == KNOWN_PARAMS[name]
    ours.load_state_dict(models.convert_state_dict(name, reference.state_dict()), strict=True,
                         assign=True)
    assert not any(t.is_meta for t in list(ours.parameters()) + list(ours.buffers()))
    size = info.min_size or 32  # the smallest input the architecture takes: cheapest
    x = torch.randn(1, *info.input_size[:1], size, size)
    expected, got = reference(x), ours(x)
    scale = expected.abs().max().item()
    assert scale > 0
    # fp32 on the CPU, the same aten convs underneath; only the BN fold differs in rounding.
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("name", sorted(KNOWN_PARAMS_NO_AUX))
def test_param_count_without_aux_heads(name):
    model = models.get_model(name, aux_logits=False, backend="torch")
    assert n_params(model) == KNOWN_PARAMS_NO_AUX[name]


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match="resnet50"):
        models.get_model("resnet5O")
