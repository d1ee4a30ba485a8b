"""Benchmark rows of grouped convolution (the depthwise family): every grouped layer of the
original two-tower AlexNet (conv2/4/5, groups=2) and of ResNeXt-50 32x4d (the 3x3
convolutions of its 16 blocks, groups=32: 4, 8, 16 and 32 channels per group), forward and
forward+backward.

Priority 0 is the headline target: ResNeXt-50's grouped 3x3 in fp16 channels_last at batch
64 (>= 1.2x cuDNN). Timed with ``ops.conv2d(..., groups=g)``; the baseline is
``F.conv2d`` (cuDNN).
"""

from __future__ import annotations

import torch.nn.functional as F

from .opbench import OpCase, Workload

# (network, layer, C, H, K, kernel, stride, groups, N): input C x H x H, output channels K.
ALEXNET = [  # 227 input, towers of 48/128/192 channels (Krizhevsky et al. 2012)
    ("alexnet", "conv2", 96, 27, 256, 5, 1, 2),
    ("alexnet", "conv4", 384, 13, 384, 3, 1, 2),
    ("alexnet", "conv5", 384, 13, 256, 3, 1, 2),
]
RESNEXT50 = [  # torchvision resnext50_32x4d: stride on the 3x3 of each stage's first block
    ("resnext50_32x4d", "layer1.conv2", 128, 56, 128, 3, 1, 32),
    ("resnext50_32x4d", "layer2.0.conv2", 256, 56, 256, 3, 2, 32),
    ("resnext50_32x4d", "layer2.conv2", 256, 28, 256, 3, 1, 32),
    ("resnext50_32x4d", "layer3.0.conv2", 512, 28, 512, 3, 2, 32),
    ("resnext50_32x4d", "layer3.conv2", 512, 14, 512, 3, 1, 32),
    ("resnext50_32x4d", "layer4.0.conv2", 1024, 14, 1024, 3, 2, 32),
    ("resnext50_32x4d", "layer4.conv2", 1024, 7, 1024, 3, 1, 32),
]
BATCH = {"alexnet": 128, "resnext50_32x4d": 64}


def conv_params(N, C, H, K, kernel, stride, groups, dilation=1) -> dict:
    return {"N": N, "C": C, "H": H, "W": H, "K": K, "kernel": kernel, "stride": stride,
            "padding": dilation * (kernel - 1) // 2, "dilation": dilation, "groups": groups}


def output_size(p: dict) -> int:
    eff = p["dilation"] * (p["kernel"] - 1) + 1
    return (p["H"] + 2 * p["padding"] - eff) // p["stride"] + 1


def conv_bytes(p: dict, element_size: int, mode: str) -> float:
    """Compulsory DRAM traffic. fwd: x + w read, y written. fwd+bwd adds dy read twice (input
    and weight gradients), x read again (weight gradient), dx and dw written."""
    P = output_size(p)
    x = p["N"] * p["C"] * p["H"] * p["W"]
    y = p["N"] * p["K"] * P * P
    w = p["K"] * (p["C"] // p["groups"]) * p["kernel"] ** 2
    fwd = x + w + y
    return element_size * (fwd if mode == "fwd" else fwd + 2 * y + 2 * x + 2 * w)


def conv_flops(p: dict) -> float:
    P = output_size(p)
    return 2.0 * p["N"] * p["K"] * P * P * (p["C"] // p["groups"]) * p["kernel"] ** 2


def build_conv(case: OpCase, device: str) -> Workload:
    """x [N, C, H, W] and weight [K, C/groups, k, k] in the case's dtype and layout."""
    import torch

    from convkernels import ops
    p, g = case.params, case.generator(device)
    dt, fmt = case.torch_dtype(), case.memory_format()
    train = case.mode == "fwd+bwd"
    x = torch.randn(p["N"], p["C"], p["H"], p["W"], generator=g, device=device)
    w = torch.randn(p["K"], p["C"] // p["groups"], p["kernel"], p["kernel"], generator=g,
                    device=device) / (p["C"] // p["groups"] * p["kernel"] ** 2) ** 0.5
    x = x.to(dt).contiguous(memory_format=fmt).requires_grad_(train)
    w = w.to(dt).contiguous(memory_format=fmt).requires_grad_(train)
    hyper = (p["stride"], p["padding"], p["dilation"], p["groups"])

    def eager(x, w):
        return F.conv2d(x, w, None, *hyper)

    def ours(backend):
        return lambda x, w: ops.conv2d(x, w, None, *hyper, backend=backend)

    return Workload((x, w), eager, ours, min_bytes=conv_bytes(p, x.element_size(), case.mode),
                    flops=None if p["groups"] == p["C"] else conv_flops(p))


def cases() -> list[OpCase]:
    out = []
    for network, layer, C, H, K, k, stride, groups in ALEXNET + RESNEXT50:
        params = conv_params(BATCH[network], C, H, K, k, stride, groups)
        resnext = network.startswith("resnext")
        for mode in ("fwd", "fwd+bwd"):
            for dtype, layout in (("fp16", "channels_last"), ("fp32", "nchw"),
                                  ("bf16", "channels_last")):
                target = resnext and dtype == "fp16" and mode == "fwd"
                priority = 0 if target else 1 if dtype == "fp16" else 3
                out.append(OpCase("depthwise_grouped", "conv2d", mode, network, layer, params,
                                  dtype, layout, priority, build_conv))
    return out
