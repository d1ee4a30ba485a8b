"""The static layer lists equal what a walk of the torchvision models gives (CPU only)."""

from __future__ import annotations

import pytest

from convkernels.bench import shapes


@pytest.mark.parametrize("network", sorted(shapes.NETWORKS))
def test_static_list_matches_torchvision(network):
    pytest.importorskip("torchvision", reason="torchvision derives the reference list")
    walked = shapes.walk_torchvision(network)
    static = list(shapes.NETWORKS[network])
    assert [s.name for s in static] == [s.name for s in walked]
    for a, b in zip(static, walked, strict=True):
        assert a == b, f"{network} {a.name}: static {a} != torchvision {b}"


def test_conv_counts_are_the_architectures():
    # ResNet-50: stem + 16 bottlenecks x 3 convs + 4 projection shortcuts; VGG-16: 13 convs.
    assert sum(s.count for s in shapes.RESNET50) == 1 + 16 * 3 + 4
    assert sum(s.count for s in shapes.VGG16) == 13


def test_shapes_are_distinct_and_named_uniquely():
    for layers in shapes.NETWORKS.values():
        assert len({s.key() for s in layers}) == len(layers)
        assert len({s.name for s in layers}) == len(layers)


def test_output_size_and_flops_match_torch():
    torch = pytest.importorskip("torch")
    for s in shapes.RESNET50 + shapes.VGG16:
        x = torch.empty(2, s.C, s.H, s.W, device="meta")
        w = torch.empty(s.K, s.C // s.groups, s.R, s.S, device="meta")
        y = torch.nn.functional.conv2d(x, w, None, s.stride, s.padding, s.dilation, s.groups)
        assert tuple(y.shape) == (2, s.K, s.P, s.Q)
        # one multiply-add per output element per (C/groups)*R*S tap
        assert s.flops(2) == 2 * y.numel() * (s.C // s.groups) * s.R * s.S
