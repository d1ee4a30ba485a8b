"""Benchmark rows of the depthwise / separable family: MobileNet's depthwise 3x3 shapes
(112^2 x 32 ... 7^2 x 1024, stride 1 and 2), every depthwise and separable layer of Xception
(timm legacy_xception, 299 input), forward and forward+backward (the weight-gradient rows).

Priority 0 are the headline targets: depthwise 3x3 forward (>= 80% HBM, >= 1.5x PyTorch),
depthwise forward+backward (weight gradient >= 2x PyTorch) and the separable block (>= 1.3x
two PyTorch convolutions), all fp16 channels_last.
"""

from __future__ import annotations

import torch.nn.functional as F

from .cases_depthwise_grouped import build_conv, conv_bytes, conv_flops, conv_params, output_size
from .opbench import OpCase, Workload

# (layer, C, H, stride) of MobileNet v1 (224 input): depthwise 3x3, multiplier 1.
MOBILENET = [
    ("dw1", 32, 112, 1), ("dw2", 64, 112, 2), ("dw3", 128, 56, 1), ("dw4", 128, 56, 2),
    ("dw5", 256, 28, 1), ("dw6", 256, 28, 2), ("dw7-11", 512, 14, 1), ("dw12", 512, 14, 2),
    ("dw13", 1024, 7, 1),
]
# (layer, C_in, C_out, H) of Xception's separable convolutions (3x3 depthwise, stride 1):
# entry flow blocks 1-3, middle flow (x8 blocks, 3 each), exit flow block 12 and conv3/conv4.
XCEPTION = [
    ("block1.sep1", 64, 128, 147), ("block1.sep2", 128, 128, 147),
    ("block2.sep1", 128, 256, 74), ("block2.sep2", 256, 256, 74),
    ("block3.sep1", 256, 728, 37), ("block3.sep2", 728, 728, 37),
    ("middle.sep", 728, 728, 19), ("block12.sep2", 728, 1024, 19),
    ("conv3", 1024, 1536, 10), ("conv4", 1536, 2048, 10),
]
BATCH = {"mobilenet_v1": 64, "xception": 32}


def build_separable(case: OpCase, device: str) -> Workload:
    """depthwise 3x3 -> pointwise 1x1 -> BatchNorm (eval) -> ReLU: Xception's conv + bn."""
    import torch

    from convkernels import ops
    p, g = case.params, case.generator(device)
    dt, fmt = case.torch_dtype(), case.memory_format()
    train = case.mode == "fwd+bwd"
    C, K = p["C"], p["K"]
    x = torch.randn(p["N"], C, p["H"], p["W"], generator=g, device=device)
    dw = torch.randn(C, 1, 3, 3, generator=g, device=device) / 3
    pw = torch.randn(K, C, 1, 1, generator=g, device=device) / C ** 0.5
    mean, var = torch.randn(K, generator=g, device=device), torch.rand(K, device=device) + 0.5
    gamma, beta = torch.randn(K, generator=g, device=device), torch.randn(K, device=device)
    # BN folded once at build time, as convkernels' modules cache it.
    scale, shift = ops.fold_batch_norm(None, mean, var, gamma, beta)
    x = x.to(dt).contiguous(memory_format=fmt).requires_grad_(train)
    dw, pw = (t.to(dt).contiguous(memory_format=fmt).requires_grad_(train) for t in (dw, pw))

    def eager(x, dw, pw):
        mid = F.conv2d(x, dw, None, 1, 1, 1, C)
        y = F.batch_norm(F.conv2d(mid, pw), mean.to(dt), var.to(dt), gamma.to(dt), beta.to(dt))
        return F.relu(y)

    def ours(backend):
        return lambda x, dw, pw: ops.separable_conv2d(x, dw, pw, padding=1, scale=scale,
                                                      shift=shift, relu=True, backend=backend)

    dwp = conv_params(p["N"], C, p["H"], C, 3, 1, C)
    pwp = conv_params(p["N"], C, p["H"], K, 1, 1, 1)
    element = x.element_size()
    # Fused separable: the depthwise result never reaches DRAM, so count x, the weights and y.
    mid_bytes = p["N"] * C * output_size(dwp) ** 2 * element
    min_bytes = conv_bytes(dwp, element, case.mode) + conv_bytes(pwp, element, case.mode) \
        - 2 * mid_bytes
    return Workload((x, dw, pw), eager, ours, min_bytes=min_bytes,
                    flops=conv_flops(dwp) + conv_flops(pwp),
                    note="BN folded into scale/shift at build time (as nn modules cache it)")


def cases() -> list[OpCase]:
    out = []
    depthwise = [("mobilenet_v1", layer, C, H, s) for layer, C, H, s in MOBILENET]
    depthwise += [("xception", f"{layer}.dw", C, H, 1) for layer, C, _, H in XCEPTION]
    for network, layer, C, H, stride in depthwise:
        params = conv_params(BATCH[network], C, H, C, 3, stride, C)
        for mode in ("fwd", "fwd+bwd"):
            for dtype, layout in (("fp16", "channels_last"), ("fp32", "nchw"),
                                  ("bf16", "channels_last"), ("fp16", "nchw")):
                headline = dtype == "fp16" and layout == "channels_last"
                priority = (0 if network == "mobilenet_v1" else 1) if headline else 3
                out.append(OpCase("depthwise", "depthwise_conv2d", mode, network, layer,
                                  params, dtype, layout, priority, build_conv))
    for layer, C, K, H in XCEPTION:
        params = {"N": BATCH["xception"], "C": C, "H": H, "W": H, "K": K, "kernel": 3}
        for mode in ("fwd", "fwd+bwd"):
            for dtype, layout in (("fp16", "channels_last"), ("fp32", "nchw")):
                priority = 0 if dtype == "fp16" and mode == "fwd" else 2
                out.append(OpCase("depthwise", "separable_conv2d", mode, "xception", layer,
                                  params, dtype, layout, priority, build_separable))
    return out
