"""Benchmark rows of the lrn family: every LRN layer of AlexNet, ZFNet and GoogLeNet at batch
64, forward and forward+backward, and the fused LRN + max-pool pairs.

Priority 0 = the headline targets: LRN fwd+bwd (AlexNet norm1/norm2) and the fused LRN +
max-pool (AlexNet, GoogLeNet). Shapes are [N, C, H, W] of the layer's input.

Compulsory bytes (``min_bytes``) count each tensor a kernel must touch once: forward = input
+ output; forward+backward adds grad_output + grad_input + the input re-read by LRN's backward
(+ the pool's int64 indices, written and read back, for the fused op).
"""

from __future__ import annotations

from functools import partial

from .cases_pool import P3S2, P3S2_CEIL, layer_cases, layer_input, pooled_size
from .opbench import OpCase, Workload

# (network, layer, op, C, H, W, params, priority): one row group per LRN layer.
#   lrn: size, alpha, beta, k; lrn_max_pool2d: those and the pool's kernel, stride, padding,
#   ceil_mode, LRN then pool (or "order": "pool_lrn").
ALEXNET_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
GOOGLENET_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}

LAYERS = [
    # AlexNet (227 input): LRN after conv1 and conv2, each followed by a 3x3/2 max-pool
    ("alexnet", "norm1", "local_response_norm", 96, 55, 55, ALEXNET_LRN, 0),
    ("alexnet", "norm1+pool1", "lrn_max_pool2d", 96, 55, 55, {**ALEXNET_LRN, **P3S2}, 0),
    ("alexnet", "norm2", "local_response_norm", 256, 27, 27, ALEXNET_LRN, 0),
    ("alexnet", "norm2+pool2", "lrn_max_pool2d", 256, 27, 27, {**ALEXNET_LRN, **P3S2}, 0),
    # ZFNet (224 input): pool then contrast norm
    ("zfnet", "norm1", "local_response_norm", 96, 55, 55, ALEXNET_LRN, 2),
    ("zfnet", "pool1+norm1", "lrn_max_pool2d", 96, 110, 110,
     {**ALEXNET_LRN, **P3S2, "order": "pool_lrn"}, 2),
    ("zfnet", "norm2", "local_response_norm", 256, 13, 13, ALEXNET_LRN, 3),
    # GoogLeNet (original): pool1 -> norm1, conv2 -> norm2 -> pool2, ceil-mode pools
    ("googlenet", "norm1", "local_response_norm", 64, 56, 56, GOOGLENET_LRN, 1),
    ("googlenet", "pool1+norm1", "lrn_max_pool2d", 64, 112, 112,
     {**GOOGLENET_LRN, **P3S2_CEIL, "order": "pool_lrn"}, 0),
    ("googlenet", "norm2", "local_response_norm", 192, 56, 56, GOOGLENET_LRN, 1),
    ("googlenet", "norm2+pool2", "lrn_max_pool2d", 192, 56, 56,
     {**GOOGLENET_LRN, **P3S2_CEIL}, 1),
]


def _build(case: OpCase, device: str) -> Workload:
    import torch.nn.functional as F

    from .. import ops

    p = case.params
    x = layer_input(case, device)
    train = case.mode == "fwd+bwd"
    x.requires_grad_(train)
    esize = x.element_size()
    x_bytes = x.numel() * esize
    lrn = dict(size=p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"])
    if case.op == "local_response_norm":
        eager = partial(F.local_response_norm, **lrn)

        def ours(backend):
            return partial(ops.local_response_norm, **lrn, backend=backend)
        fwd = 2 * x_bytes
        bwd = 3 * x_bytes  # grad_output, the input again, grad_input
    elif case.op == "lrn_max_pool2d":
        pool = dict(kernel_size=p["kernel"], stride=p["stride"], padding=p["padding"],
                    ceil_mode=p["ceil_mode"])
        order = p.get("order", "lrn_pool")
        out_n = p["N"] * p["C"] * pooled_size(p["H"], p) * pooled_size(p["W"], p)

        def eager(t):
            if order == "lrn_pool":
                return F.max_pool2d(F.local_response_norm(t, **lrn), **pool)
            return F.local_response_norm(F.max_pool2d(t, **pool), **lrn)

        def ours(backend):
            return partial(ops.lrn_max_pool2d, **lrn, **pool, order=order, backend=backend)
        fwd = x_bytes + out_n * (esize + (8 if train else 0))
        bwd = out_n * (esize + 8) + 2 * x_bytes  # + the input re-read by the LRN backward
    else:
        raise ValueError(f"cases_lrn: unknown op {case.op!r}")
    return Workload((x,), eager, ours, min_bytes=fwd + (bwd if train else 0))


def cases() -> list[OpCase]:
    return layer_cases("lrn", LAYERS, _build)
