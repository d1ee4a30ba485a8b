"""Per-layer breakdown of one forward pass: for every layer, which op and backend ran, its
time (CUDA events on a GPU, wall clock on the CPU), its FLOPs and compulsory bytes, and the
share of the roofline (``max(flops / peak, bytes / bandwidth) / time``) when the device's
peaks are known.

    >>> rows = layer_breakdown(model.cuda().half().eval(), x, dtype="fp16")
    >>> print(format_breakdown(rows))
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .. import backends
from ._backend import layer_op


@dataclasses.dataclass
class LayerRow:
    name: str
    kind: str                 # module class
    op: str                   # convkernels op, or "torch" for a torch layer
    backend: str              # what backends.select picked for this layer's call
    ms: float                 # mean over the timed iterations
    gflops: float
    mbytes: float             # inputs + parameters + output, once
    roofline_pct: Optional[float]


def _leaves(model: nn.Module):
    """Layers timed as a unit: our op modules (even with children, like ConvBNReLU2d) and
    torch leaves; never a container."""
    skip_under = set()
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in skip_under):
            continue
        if layer_op(m) is not None or hasattr(m, "backend"):
            skip_under.add(name)
            yield name, m
        elif not list(m.children()) and name:
            yield name, m


def _nbytes(objs) -> int:
    return sum(t.numel() * t.element_size() for t in objs if isinstance(t, torch.Tensor))


def layer_breakdown(model: nn.Module, x: torch.Tensor, *, iters: int = 10, warmup: int = 3,
                    dtype: str = "fp16", peaks=None) -> list[LayerRow]:
    """Time every layer of ``model(x)`` (eval, no grad). ``peaks``: a
    :class:`convkernels._peaks.Peaks` (looked up from the GPU's name when None)."""
    cuda = x.is_cuda
    if peaks is None and cuda:
        from .._peaks import peaks_for
        peaks = peaks_for(torch.cuda.get_device_name(x.device))
    leaves = list(_leaves(model))
    args: dict[str, tuple] = {}
    times: dict[str, list[float]] = {n: [] for n, _ in leaves}
    starts: dict[str, object] = {}
    hooks = []

    def pre(name):
        def hook(m, inputs):
            args.setdefault(name, inputs)
            if cuda:
                ev = torch.cuda.Event(enable_timing=True)
                ev.record()
                starts[name] = ev
            else:
                starts[name] = time.perf_counter()
        return hook

    def post(name):
        def hook(m, inputs, output):
            if cuda:
                ev = torch.cuda.Event(enable_timing=True)
                ev.record()
                times[name].append((starts[name], ev))
            else:
                times[name].append((time.perf_counter() - starts[name]) * 1e3)
        return hook

    for name, m in leaves:
        hooks += [m.register_forward_pre_hook(pre(name)), m.register_forward_hook(post(name))]
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model(x)
            for ts in times.values():
                ts.clear()
            for _ in range(iters):
                model(x)
        if cuda:
            torch.cuda.synchronize()
    finally:
        for h in hooks:
            h.remove()

    rows = []
    for name, m in leaves:
        if name not in args:
            continue  # not on the forward path (an aux head in eval)
        samples = times[name]
        ms = (sum(a.elapsed_time(b) for a, b in samples) if cuda else sum(samples)) / len(samples)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            out = m(*args[name])
        flops = counter.get_total_flops()
        nbytes = _nbytes(args[name]) + _nbytes(m.parameters()) + _nbytes(
            out if isinstance(out, (tuple, list)) else (out,))
        op = layer_op(m)
        backend = "torch"
        if op is not None:
            call = backends.Call(op[0], x.device, x.dtype, op[1])
            backend = backends.select(call, getattr(m, "backend", None)).backend
        roof = None
        if peaks is not None and ms > 0:
            from .._peaks import compute_peak_tflops
            tflops = compute_peak_tflops(peaks, dtype, torch.backends.cuda.matmul.allow_tf32)
            roof_ms = max(flops / (tflops * 1e12) if tflops else 0.0,
                          nbytes / (peaks.hbm_tbps * 1e12)) * 1e3
            roof = 100.0 * roof_ms / ms
        rows.append(LayerRow(name, type(m).__name__, op[0] if op else "torch", backend, ms,
                             flops / 1e9, nbytes / 1e6, roof))
    return rows


def format_breakdown(rows: list[LayerRow]) -> str:
    """A Markdown table of :func:`layer_breakdown` rows, with the total."""
    lines = ["| layer | kind | op | backend | ms | GFLOP | MB | % roofline |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        pct = "n/a" if r.roofline_pct is None else f"{r.roofline_pct:.1f}"
        lines.append(f"| {r.name} | {r.kind} | {r.op} | {r.backend} | {r.ms:.3f} | "
                     f"{r.gflops:.3f} | {r.mbytes:.2f} | {pct} |")
    total = sum(r.ms for r in rows)
    lines.append(f"| total | | | | {total:.3f} | {sum(r.gflops for r in rows):.2f} | | |")
    return "\n".join(lines)


BREAKDOWN_NETWORKS = ("resnet50", "vgg16", "googlenet", "densenet121")


def breakdown_markdown(names=BREAKDOWN_NETWORKS, *, device: str = "cuda", batch: int = 64,
                       dtype: str = "fp16", backend: str = "auto", iters: int = 10) -> str:
    """Per-layer tables for ``names`` (the four headline networks by default) at ``batch``
    in ``dtype`` channels_last, each layer on ``backend`` where it can run (``auto`` elsewhere)."""
    from ._backend import prefer_backend
    from ._registry import get_model, model_info
    torch_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    parts = []
    for name in names:
        with torch.device(device):
            model = get_model(name).eval()
        model = model.to(dtype=torch_dtype, memory_format=torch.channels_last)
        prefer_backend(model, backend, device, torch_dtype)
        x = torch.randn(batch, *model_info(name).input_size, device=device, dtype=torch_dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        rows = layer_breakdown(model, x, iters=iters, dtype=dtype)
        parts.append(f"## {name}, batch {batch}, {dtype} channels_last, backend {backend}\n\n"
                     + format_breakdown(rows))
        del model, x
    return "\n\n".join(parts) + "\n"
