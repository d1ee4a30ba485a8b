"""Networks without a torchvision/timm twin, against the numbers the seeds give: LeNet-5's
per-layer parameters, AlexNet's 55 -> 27 -> 13 -> 6, ZFNet's and DeepFace's sizes, GoogLeNet's
per-block parameters and output sizes (paper Table 1), SPP's fixed 21-bin vector for any input
size; plus the registry, dtypes/layouts, the decoder's checkerboard and the deconvnet.

Forward passes use ``backend="torch"`` (under TRITON_INTERPRET=1, "auto" would choose the
Triton interpreter) and batch 1.
"""

import pytest
import torch

import convkernels
from convkernels import models
from convkernels.models.decoder import checkerboard_energy
from convkernels.models.deconvnet import DeconvNet, save_image
from convkernels.models.googlenet import GOOGLENET_BLOCKS


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def output_sizes(model, x, kinds):
    """(H, W, C) after every leaf module of the given kinds, in forward order."""
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append((o.shape[2], o.shape[3],
                                                                    o.shape[1])))
             for m in model.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return sizes


def test_lenet5_layer_parameters_match_the_paper():
    m = models.get_model("lenet5", backend="torch")
    counts = {name: n_params(getattr(m, name)) for name in ("c1", "s2", "c3", "s4", "c5", "f6")}
    assert counts == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}
    # C3's table: 6 maps x 3 inputs, 9 x 4, 1 x 6 = 60 connected 5x5 filters
    assert sorted(m.c3.connections.sum(1).tolist()) == [3] * 6 + [4] * 9 + [6]
    assert m(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_partial_conv_equals_a_masked_dense_conv():
    m = models.get_model("lenet5", backend="torch").c3
    x = torch.randn(2, 6, 14, 14, dtype=torch.float64)
    m = m.double()
    dense = m.dense_weight()
    assert (dense.abs().sum((2, 3)) != 0).eq(m.connections).all()
    torch.testing.assert_close(m(x), torch.nn.functional.conv2d(x, dense, m.bias))
    m(x).sum().backward()  # only connected filters are parameters, all receive gradient
    assert m.weight.grad.abs().sum((1, 2)).gt(0).all()


def test_subsampling_is_coefficient_times_window_sum_plus_bias():
    s = convkernels.nn.Subsampling2d(3, activation=None, backend="torch").double()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    window_sum = torch.nn.functional.avg_pool2d(x, 2) * 4
    expected = window_sum * s.weight.view(1, 3, 1, 1) + s.bias.view(1, 3, 1, 1)
    torch.testing.assert_close(s(x), expected)
    assert n_params(s) == 6
    with pytest.raises(ValueError, match="activation"):
        convkernels.nn.Subsampling2d(3, activation="relu6")


def test_alexnet_original_sizes_55_27_13_6():
    m = models.get_model("alexnet_original", backend="torch").eval()
    convs_pools = output_sizes(m.features, torch.randn(1, 3, 227, 227),
                               (torch.nn.Conv2d, torch.nn.MaxPool2d, convkernels.nn.LRNMaxPool2d))
    assert convs_pools == [(55, 55, 96), (27, 27, 96), (27, 27, 256), (13, 13, 256),
                           (13, 13, 384), (13, 13, 384), (13, 13, 256), (6, 6, 256)]
    assert [c.groups for c in m.features if isinstance(c, torch.nn.Conv2d)] == [1, 2, 1, 2, 2]


def test_zfnet_sizes():
    m = models.get_model("zfnet", backend="torch").eval()
    sizes = output_sizes(m.features, torch.randn(1, 3, 224, 224),
                         (torch.nn.Conv2d, torch.nn.MaxPool2d, convkernels.nn.LRNMaxPool2d))
    assert [s[0] for s in sizes] == [110, 55, 26, 13, 13, 13, 13, 6]
    assert m.features[0].kernel_size == (7, 7) and m.features[0].stride == (2, 2)


# GoogLeNet, paper Table 1: output size and weights (K = 1024 weights, biases excluded)
GOOGLENET_TABLE = {
    "3a": ((28, 28, 256), 159), "3b": ((28, 28, 480), 380), "4a": ((14, 14, 512), 364),
    "4b": ((14, 14, 512), 437), "4c": ((14, 14, 512), 463), "4d": ((14, 14, 528), 580),
    "4e": ((14, 14, 832), 840), "5a": ((7, 7, 832), 1072), "5b": ((7, 7, 1024), 1388),
}


def test_googlenet_blocks_match_paper_table():
    m = models.get_model("googlenet_original", backend="torch").eval()
    sizes = {}
    for name in GOOGLENET_TABLE:
        block = getattr(m, f"inception{name}")
        block.register_forward_hook(
            lambda mod, i, o, name=name: sizes.__setitem__(name, (o.shape[2], o.shape[3],
                                                                  o.shape[1])))
        weights = sum(p.numel() for n, p in block.named_parameters() if n.endswith("weight"))
        cin, c1, c3r, c3, c5r, c5, pp = GOOGLENET_BLOCKS[name]
        assert weights == cin * (c1 + c3r + c5r + pp) + 9 * c3r * c3 + 25 * c5r * c5
        # The table's params column is approximate: most entries are within 2% of what its
        # own channel columns give, 4c and 5a are 7.5% and 5% off (an error in the paper).
        assert abs(weights / 1024 / GOOGLENET_TABLE[name][1] - 1) < 0.08, (name, weights)
    with torch.no_grad():
        m(torch.randn(1, 3, 224, 224))
    assert sizes == {n: t[0] for n, t in GOOGLENET_TABLE.items()}


def test_googlenet_aux_heads_only_in_training():
    m = models.get_model("googlenet_original", backend="torch")
    out = m.train()(torch.randn(2, 3, 224, 224))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 1000)] * 3
    assert m.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


@pytest.mark.parametrize("size", [100, 180, 224, 257])
def test_spp_vector_has_21_bins_per_channel_for_any_size(size):
    m = models.get_model("sppnet", backend="torch").eval()
    with torch.no_grad():
        assert m.pooled_features(torch.randn(1, 3, size, size)).shape == (1, 256 * 21)
        assert m(torch.randn(1, 3, size, size + 13)).shape == (1, 1000)


@pytest.mark.slow
def test_deepface_sizes_and_locally_connected_layers():
    m = models.get_model("deepface", backend="torch").eval()
    sizes = output_sizes(m, torch.randn(1, 3, 152, 152),
                         (torch.nn.Conv2d, torch.nn.MaxPool2d, convkernels.nn.LocallyConnected2d))
    assert [s[0] for s in sizes] == [142, 71, 63, 55, 25, 21]
    assert n_params(m.l4) == 55 * 55 * 16 * (16 * 9 * 9 + 1)


@pytest.mark.parametrize("name", ["nin", "bn_inception", "vgg16_c", "vgg11_lrn",
                                  "preact_resnet18", "preact_resnet50", "googlenet_original"])
def test_other_networks_run(name):
    m = models.get_model(name, num_classes=10, backend="torch").eval()
    size = max(models.model_info(name).min_size or 64, 64)
    with torch.no_grad():
        assert m(torch.randn(1, 3, size, size)).shape == (1, 10)


def test_vgg_c_has_1x1_convs_in_blocks_3_to_5():
    with torch.device("meta"):
        m = models.get_model("vgg16_c")
    kernels = [c.kernel_size[0] for c in m.features if isinstance(c, torch.nn.Conv2d)]
    assert kernels == [3, 3, 3, 3, 3, 3, 1, 3, 3, 1, 3, 3, 1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["resnet18", "lenet5", "googlenet"])
def test_channels_last_and_low_precision(name, dtype):
    m = models.get_model(name, backend="torch").eval()
    c, h, w = models.model_info(name).input_size
    x = torch.randn(1, c, h if c == 1 else 64, w if c == 1 else 64)
    with torch.no_grad():
        expected = m(x)
        m = m.to(dtype=dtype, memory_format=torch.channels_last)
        got = m(x.to(dtype).contiguous(memory_format=torch.channels_last))
    assert got.dtype == dtype
    tol = {torch.float32: 1e-4, torch.bfloat16: 0.1}[dtype]  # bf16: 8-bit mantissa, many layers
    torch.testing.assert_close(got.float(), expected, rtol=tol, atol=tol * expected.abs().max())


def test_backend_is_passed_to_every_conv():
    m = models.get_model("resnet18", backend="torch")
    backends = {mod.backend for mod in m.modules() if hasattr(mod, "backend")}
    assert backends == {"torch"}


def test_resize_conv_decoder_has_no_checkerboard_and_transposed_twin_does():
    torch.manual_seed(0)
    z = torch.randn(4, 100)
    energy = {}
    for name in ("decoder_resize", "decoder_transposed"):
        torch.manual_seed(1)
        m = models.get_model(name, backend="torch").eval()
        with torch.no_grad():
            img = m(z)
        assert img.shape == (4, 3, 32, 32)
        energy[name] = checkerboard_energy(img).mean().item()
    assert energy["decoder_resize"] < 0.02, energy
    assert energy["decoder_transposed"] > max(0.1, 20 * energy["decoder_resize"]), energy


def test_deconvnet_projects_one_activation_to_pixels(tmp_path):
    m = models.get_model("zfnet", backend="torch").eval()
    dn = DeconvNet(m.features)
    image = torch.rand(1, 3, 224, 224)
    act, _ = dn.forward(image, 4)  # layer 4: conv2 (+ its fused ReLU)
    channel = int(act[0].amax((1, 2)).argmax())  # a channel that fired (random weights)
    pixels = dn.project(image, layer=4, channel=channel)
    assert pixels.shape == image.shape and pixels.abs().sum() > 0
    # one conv2 unit sees a 7 + 2*(2 + 2*4) = 27... at most 7 + 2*(3 - 1 + 2*(5 - 1)) = 27
    # rows of pool1 -> ~ 2*27 + 7 pixels: the reconstruction stays inside that field
    nz = pixels[0].abs().sum(0).nonzero()
    assert (nz[:, 0].max() - nz[:, 0].min()) < 64 and (nz[:, 1].max() - nz[:, 1].min()) < 64
    path = tmp_path / "proj.png"
    save_image(pixels, str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 100


def test_summary_rows():
    rows = {r.name: r for r in models.summary(["resnet50", "lenet5", "vgg16"])}
    assert rows["resnet50"].params == 25_557_032 and 8.0 < rows["resnet50"].gflops < 8.4
    assert rows["lenet5"].params == 60_840  # 156 + 12 + 1516 + 32 + 48120 + 10164 + 840 (RBF)
    assert 30.0 < rows["vgg16"].gflops < 31.5
    assert rows["vgg16"].reference == "torchvision:vgg16"


def test_registry_lists_every_family():
    names = set(models.list_models())
    for required in ("lenet5", "lenet5_modern", "mnist_conv1", "alexnet", "alexnet_original",
                     "zfnet", "vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19",
                     "vgg16_bn", "nin", "googlenet", "googlenet_original", "bn_inception",
                     "inception_v3", "inception_v4", "inception_resnet_v2", "resnet18",
                     "resnet152", "preact_resnet50", "resnext50_32x4d", "resnext101_32x8d",
                     "densenet121", "densenet161", "densenet169", "densenet201", "xception",
                     "deepface", "sppnet", "decoder_resize", "decoder_transposed"):
        assert required in names, required


@pytest.mark.parametrize("name,pairs", [("alexnet_original", 2), ("googlenet_original", 2),
                                        ("zfnet", 2), ("vgg11_lrn", 1)])
def test_lrn_and_max_pool_run_as_one_fused_op(name, pairs):
    """Back-to-back LRN / max-pool layers of the LRN-era networks are one LRNMaxPool2d
    (one read of the input), in AlexNet's and GoogLeNet's orders."""
    m = models.get_model(name, backend="torch")
    fused = [x for x in m.modules() if isinstance(x, convkernels.nn.LRNMaxPool2d)]
    assert len(fused) == pairs
    if name == "googlenet_original":
        assert [f.order for f in fused] == ["pool_lrn", "lrn_pool"]
