"""Benchmark rows of the Winograd family: every 3x3 layer of VGG-16 and ResNet-50 at batch
64, fp32 (TF32 off, NCHW) and fp16 (channels_last), each with the direct, winograd_2x2,
winograd_4x4 and auto algorithms.

The two target configurations:

* fp32 with TF32 off, NCHW (target: Winograd >= 1.5x cuDNN on VGG-16),
* fp16 channels_last (target: >= 1.0x cuDNN, stretch 1.3x),

each with four algorithms: ``direct``, ``winograd_2x2``, ``winograd_4x4`` and ``auto`` (the
chooser of :mod:`convkernels.algo`; target: never > 5% slower than the best single one).
ResNet-50's three stride-2 3x3 layers are outside Winograd's domain: they get ``direct`` and
``auto`` rows only (auto must pick direct or cuDNN there).
The ``cudnn`` column of every row is the baseline; these rows are also what
``python -m convkernels.algo build-table`` turns into the dispatch table.

FLOPs are the direct convolution's (2 N K P Q C 9), as cuDNN reports them, so Winograd's
saving shows up as a higher effective TFLOP/s. ``min_bytes`` = input + weight + output once.
"""

from __future__ import annotations

from functools import partial

from .opbench import OpCase, Workload
from .shapes import NETWORKS, ConvShape

ALGOS = ("direct", "winograd_2x2", "winograd_4x4", "auto")
CONFIGS = (("fp32", "nchw"), ("fp16", "channels_last"))
BATCH = 64


def layers_3x3() -> list[ConvShape]:
    return [s for net in ("vgg16", "resnet50") for s in NETWORKS[net]
            if (s.R, s.S, s.dilation, s.groups) == (3, 3, 1, 1)]


def _build(shape: ConvShape, algo: str, case: OpCase, device: str) -> Workload:
    import torch
    import torch.nn.functional as F

    from .. import ops

    g = case.generator(device)
    dt = case.torch_dtype()
    stride = shape.stride
    x = torch.randn(case.N, shape.C, shape.H, shape.W, generator=g, device=device, dtype=dt)
    x = x.contiguous(memory_format=case.memory_format())
    w = torch.randn(shape.K, shape.C, 3, 3, generator=g, device=device, dtype=dt)
    w = (w * (2.0 / (9 * shape.C)) ** 0.5).contiguous(memory_format=case.memory_format())
    b = torch.randn(shape.K, generator=g, device=device, dtype=dt) if shape.bias else None
    pad = shape.padding

    def eager(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=pad)

    def ours(backend):
        # The torch backend is the reference: it has no "direct" kernel of its own (cuDNN
        # picks), so the reference row of the direct variant is aten's conv (algo="auto").
        a = "auto" if (backend == "torch" and algo == "direct") else algo
        return lambda x, w, b: ops.conv2d(x, w, b, stride=stride, padding=pad, algo=a,
                                          backend=backend)

    elt = x.element_size()
    min_bytes = (x.numel() + w.numel() + case.N * shape.K * shape.P * shape.Q) * elt
    return Workload((x, w, b), eager, ours, min_bytes=float(min_bytes),
                    flops=float(shape.flops(case.N)), note="")


def cases() -> list[OpCase]:
    out = []
    for shape in layers_3x3():
        algos = ALGOS if shape.stride == 1 else ("direct", "auto")
        for dtype, layout in CONFIGS:
            # Priority 0: the VGG-16 rows the targets name; ResNet-50 next.
            priority = 0 if shape.network == "vgg16" else 1
            for algo in algos:
                params = {"N": BATCH, "C": shape.C, "H": shape.H, "W": shape.W, "K": shape.K,
                          "kernel": 3, "stride": shape.stride, "padding": shape.padding,
                          "bias": shape.bias, "algo": algo}
                out.append(OpCase(
                    suite="winograd", op="conv2d", mode="fwd", network=shape.network,
                    layer=shape.name, params=params, dtype=dtype, layout=layout,
                    priority=priority, build=partial(_build, shape, algo), tf32=False,
                    # cuDNN and torch.compile do not depend on our algo: compile once per layer.
                    compile_baseline=(algo == "direct" and priority == 0), variant=algo))
    return out
