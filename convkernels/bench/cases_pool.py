"""Benchmark rows of the pool family: every pooling layer of AlexNet, ZFNet, VGG-16,
GoogLeNet, Inception v3, ResNet-50 and DenseNet-121 at batch 64, forward and
forward+backward, plus ZFNet's unpooling and the SPP-net head (the LRN layers and the fused
LRN + max-pool pairs are the lrn family's rows, :mod:`convkernels.bench.cases_lrn`).

Priority 0 = the headline targets: overlapping 3x3/2 max-pool fwd with and without indices
and fwd+bwd on AlexNet/GoogLeNet shapes. Shapes are [N, C, H, W] of the layer's input.

Compulsory bytes (``min_bytes``) count each tensor a kernel must touch once: forward = input
+ output (+ int64 indices when returned); forward+backward adds grad_output + grad_input
(+ the indices read back). The max-pool forward of a fwd+bwd row writes indices because its
backward needs them, as torch's does.
"""

from __future__ import annotations

from functools import partial

from .opbench import OpCase, Workload

BATCH = 64

# (network, layer, op, C, H, W, params, priority): one row group per pooling layer.
#   max / avg: kernel, stride, padding, ceil_mode; adaptive: output size.
P3S2 = {"kernel": 3, "stride": 2, "padding": 0, "ceil_mode": False}
P3S2_CEIL = {"kernel": 3, "stride": 2, "padding": 0, "ceil_mode": True}
P2S2 = {"kernel": 2, "stride": 2, "padding": 0, "ceil_mode": False}
P3S1 = {"kernel": 3, "stride": 1, "padding": 1, "ceil_mode": False}
P3S2P1 = {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": False}

LAYERS = [
    # AlexNet (227 input; conv1 96@55, conv2 256@27, conv5 256@13)
    ("alexnet", "pool1", "max_pool2d", 96, 55, 55, P3S2, 0),
    ("alexnet", "pool2", "max_pool2d", 256, 27, 27, P3S2, 0),
    ("alexnet", "pool5", "max_pool2d", 256, 13, 13, P3S2, 1),
    # ZFNet (224 input; 7x7/2 conv1 -> 96@110; pool then contrast norm; ceil pool2 26 -> 13)
    ("zfnet", "pool1", "max_pool2d", 96, 110, 110, P3S2, 2),
    ("zfnet", "pool2", "max_pool2d", 256, 26, 26, P3S2_CEIL, 2),
    ("zfnet", "pool5", "max_pool2d", 256, 13, 13, P3S2, 3),
    ("zfnet", "unpool1_deconvnet", "max_unpool2d", 96, 110, 110, P3S2, 3),
    # VGG-16: five 2x2/2 max-pools
    ("vgg16", "pool1", "max_pool2d", 64, 224, 224, P2S2, 1),
    ("vgg16", "pool2", "max_pool2d", 128, 112, 112, P2S2, 2),
    ("vgg16", "pool3", "max_pool2d", 256, 56, 56, P2S2, 2),
    ("vgg16", "pool4", "max_pool2d", 512, 28, 28, P2S2, 2),
    ("vgg16", "pool5", "max_pool2d", 512, 14, 14, P2S2, 2),
    # GoogLeNet (original, with LRN): pool1 -> norm1, conv2 -> norm2 -> pool2, ceil-mode pools
    ("googlenet", "pool1", "max_pool2d", 64, 112, 112, P3S2_CEIL, 0),
    ("googlenet", "pool2", "max_pool2d", 192, 56, 56, P3S2_CEIL, 0),
    ("googlenet", "3a.branch_pool", "max_pool2d", 192, 28, 28, P3S1, 2),
    ("googlenet", "pool3", "max_pool2d", 480, 28, 28, P3S2_CEIL, 1),
    ("googlenet", "pool4", "max_pool2d", 832, 14, 14, P3S2_CEIL, 2),
    ("googlenet", "avgpool", "adaptive_avg_pool2d", 1024, 7, 7, {"output": 1}, 2),
    # Inception v3 (299 input)
    ("inception_v3", "maxpool1", "max_pool2d", 64, 147, 147, P3S2, 2),
    ("inception_v3", "maxpool2", "max_pool2d", 192, 71, 71, P3S2, 2),
    ("inception_v3", "Mixed_5b.branch_pool", "avg_pool2d", 192, 35, 35, P3S1, 2),
    ("inception_v3", "Mixed_6a.max_pool", "max_pool2d", 288, 35, 35, P3S2, 3),
    ("inception_v3", "Mixed_6b.branch_pool", "avg_pool2d", 768, 17, 17, P3S1, 3),
    ("inception_v3", "Mixed_7a.max_pool", "max_pool2d", 768, 17, 17, P3S2, 3),
    ("inception_v3", "Mixed_7b.branch_pool", "avg_pool2d", 1280, 8, 8, P3S1, 3),
    ("inception_v3", "avgpool", "adaptive_avg_pool2d", 2048, 8, 8, {"output": 1}, 3),
    # ResNet-50
    ("resnet50", "maxpool", "max_pool2d", 64, 112, 112, P3S2P1, 1),
    ("resnet50", "avgpool", "adaptive_avg_pool2d", 2048, 7, 7, {"output": 1}, 2),
    # DenseNet-121: stem max-pool, 2x2 average transitions, global pool
    ("densenet121", "pool0", "max_pool2d", 64, 112, 112, P3S2P1, 2),
    ("densenet121", "transition1", "avg_pool2d", 128, 56, 56, P2S2, 2),
    ("densenet121", "transition2", "avg_pool2d", 256, 28, 28, P2S2, 2),
    ("densenet121", "transition3", "avg_pool2d", 512, 14, 14, P2S2, 3),
    ("densenet121", "avgpool", "adaptive_avg_pool2d", 1024, 7, 7, {"output": 1}, 3),
    # SPP-net head on conv5 (13x13, 256 channels): 1 + 4 + 16 = 21 bins
    ("sppnet", "spp_conv5", "spatial_pyramid_pool", 256, 13, 13, {"levels": (1, 2, 4)}, 3),
]


def pooled_size(size, p):
    """One output dimension of the pooling window ``p`` (kernel, stride, padding, ceil_mode)."""
    from .._checks import pool_output_size
    return pool_output_size(size, p["kernel"], p["stride"], p["padding"], 1, p["ceil_mode"])


def layer_input(case: OpCase, device: str):
    """The layer's input [N, C, H, W] in the case's dtype and memory format."""
    import torch

    p = case.params
    x = torch.randn(p["N"], p["C"], p["H"], p["W"], generator=case.generator(device),
                    device=device, dtype=torch.float32).to(case.torch_dtype())
    return x.contiguous(memory_format=case.memory_format())


def _build(case: OpCase, device: str) -> Workload:
    import torch
    import torch.nn.functional as F

    from .. import ops

    p = case.params
    N, C, H, W = p["N"], p["C"], p["H"], p["W"]
    x = layer_input(case, device)
    train = case.mode == "fwd+bwd"
    indices = case.variant == "indices"
    esize = x.element_size()
    x_bytes = x.numel() * esize
    op = case.op
    if op == "max_unpool2d":  # the input is the pooled map and its switches
        pooled, switches = F.max_pool2d(x, p["kernel"], p["stride"], return_indices=True)
        pooled = pooled.detach().requires_grad_(train)
        args = (p["kernel"], p["stride"], 0)
        out_bytes = x_bytes
        return Workload(
            (pooled, switches),
            lambda t, i: F.max_unpool2d(t, i, *args, output_size=(H, W)),
            lambda backend: (lambda t, i: ops.max_unpool2d(t, i, *args, output_size=(H, W),
                                                           backend=backend)),
            min_bytes=(pooled.numel() * (esize + 8) + out_bytes) * (2 if train else 1))
    x.requires_grad_(train)

    if op == "max_pool2d":
        k, s, pad, ceil = p["kernel"], p["stride"], p["padding"], p["ceil_mode"]
        out_n = N * C * pooled_size(H, p) * pooled_size(W, p)
        eager = partial(F.max_pool2d, kernel_size=k, stride=s, padding=pad, ceil_mode=ceil,
                        return_indices=indices)

        def ours(backend):
            return partial(ops.max_pool2d, kernel_size=k, stride=s, padding=pad, ceil_mode=ceil,
                           return_indices=indices, backend=backend)
        fwd = x_bytes + out_n * (esize + (8 if indices or train else 0))
        bwd = out_n * (esize + 8) + x_bytes
    elif op == "avg_pool2d":
        k, s, pad, ceil = p["kernel"], p["stride"], p["padding"], p["ceil_mode"]
        out_n = N * C * pooled_size(H, p) * pooled_size(W, p)
        eager = partial(F.avg_pool2d, kernel_size=k, stride=s, padding=pad, ceil_mode=ceil)

        def ours(backend):
            return partial(ops.avg_pool2d, kernel_size=k, stride=s, padding=pad, ceil_mode=ceil,
                           backend=backend)
        fwd = x_bytes + out_n * esize
        bwd = out_n * esize + x_bytes
    elif op == "adaptive_avg_pool2d":
        size = p["output"]
        out_n = N * C * size * size
        eager = partial(F.adaptive_avg_pool2d, output_size=size)

        def ours(backend):
            return partial(ops.adaptive_avg_pool2d, output_size=size, backend=backend)
        fwd = x_bytes + out_n * esize
        bwd = out_n * esize + x_bytes
    elif op == "spatial_pyramid_pool":
        levels = tuple(p["levels"])
        bins = sum(n * n for n in levels)

        def eager(t):
            return torch.cat([F.adaptive_max_pool2d(t, n).flatten(1) for n in levels], 1)

        def ours(backend):
            return partial(ops.spatial_pyramid_pool, levels=levels, mode="max", backend=backend)
        fwd = x_bytes + N * C * bins * esize
        bwd = N * C * bins * (esize + 8) + x_bytes
    else:
        raise ValueError(f"cases_pool: unknown op {op!r}")
    return Workload((x,), eager, ours, min_bytes=fwd + (bwd if train else 0))


def layer_cases(suite: str, layers, build) -> list[OpCase]:
    """The row groups of ``layers`` (as in :data:`LAYERS`): fp16 channels_last forward (plus
    with indices for max_pool2d) and forward+backward (not for max_unpool2d); the priority-0
    targets also in fp32 NCHW, torch's default format."""
    out = []
    for network, layer, op, C, H, W, extra, priority in layers:
        params = {"N": BATCH, "C": C, "H": H, "W": W, **extra}
        variants = [("fwd", "")]
        if op == "max_pool2d":
            variants.append(("fwd", "indices"))
        if op not in ("max_unpool2d",):
            variants.append(("fwd+bwd", ""))
        for mode, variant in variants:
            out.append(OpCase(suite, op, mode, network, layer, params, "fp16", "channels_last",
                              priority, build, variant=variant))
            if priority == 0:
                out.append(OpCase(suite, op, mode, network, layer, params, "fp32", "nchw", 1,
                                  build, variant=variant))
    return out


def cases() -> list[OpCase]:
    return layer_cases("pool", LAYERS, _build)
