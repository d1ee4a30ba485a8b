"""The correctness tour of every op family beyond conv2d / fused_conv_bn_relu (which
:mod:`convkernels.bench.cputour` covers with its own shapes and training mode).

One small, awkward case per op (odd sizes, ragged windows, channel counts that are not
multiples of 8), forward, on every backend this machine has, against the same expression in
float64 eager PyTorch; pass rule of tests/harness.py (at most 2x PyTorch's own error in the same
dtype, plus a small floor). Integer outputs (indices) must match exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

_ATOL = {"fp32": 1e-5, "fp16": 1e-3}


@dataclass(frozen=True)
class TourOp:
    name: str
    make: Callable[[object], tuple]          # generator -> float32 input tensors
    torch_fn: Callable[..., object]          # the PyTorch expression (any dtype)
    ours: Callable[..., object]              # (backend, *inputs) -> convkernels result
    registry_op: str = ""                    # the backends-registry op it runs on, if not
                                             # the first word of the name


def _ops() -> list[TourOp]:
    import torch
    import torch.nn.functional as F

    from convkernels import ops

    def rnd(g, *shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g)

    return [
        TourOp("max_pool2d 3x3/2 ceil +indices", lambda g: (rnd(g, 2, 5, 13, 11),),
               lambda x: F.max_pool2d(x, 3, 2, 0, ceil_mode=True, return_indices=True),
               lambda b, x: ops.max_pool2d(x, 3, 2, 0, ceil_mode=True, return_indices=True,
                                           backend=b)),
        TourOp("avg_pool2d 3x3/2 pad 1", lambda g: (rnd(g, 2, 5, 12, 9),),
               lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
               lambda b, x: ops.avg_pool2d(x, 3, 2, 1, count_include_pad=False, backend=b)),
        TourOp("adaptive_avg_pool2d 5x3", lambda g: (rnd(g, 2, 6, 13, 7),),
               lambda x: F.adaptive_avg_pool2d(x, (5, 3)),
               lambda b, x: ops.adaptive_avg_pool2d(x, (5, 3), backend=b)),
        TourOp("spatial_pyramid_pool (1,2,4)", lambda g: (rnd(g, 2, 3, 13, 13),),
               lambda x: torch.cat([F.adaptive_max_pool2d(x, n).flatten(1) for n in (1, 2, 4)],
                                   1),
               lambda b, x: ops.spatial_pyramid_pool(x, (1, 2, 4), "max", backend=b),
               "adaptive_max_pool2d"),
        TourOp("local_response_norm AlexNet", lambda g: (rnd(g, 2, 7, 6, 5),),
               lambda x: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
               lambda b, x: ops.local_response_norm(x, 5, 1e-4, 0.75, 2.0, backend=b)),
        TourOp("lrn_max_pool2d (LRN -> pool)", lambda g: (rnd(g, 2, 6, 11, 11),),
               lambda x: F.max_pool2d(F.local_response_norm(x, 5, 1e-4, 0.75, 2.0), 3, 2),
               lambda b, x: ops.lrn_max_pool2d(x, 5, 1e-4, 0.75, 2.0, 3, 2, backend=b)),
        TourOp("conv2d groups=2", lambda g: (rnd(g, 2, 6, 9, 9), rnd(g, 8, 3, 3, 3, scale=0.3)),
               lambda x, w: F.conv2d(x, w, None, 1, 1, 1, 2),
               lambda b, x, w: ops.conv2d(x, w, None, 1, 1, 1, 2, backend=b)),
        TourOp("depthwise_conv2d 5x5/2 x2", lambda g: (rnd(g, 2, 5, 11, 10),
                                                         rnd(g, 10, 1, 5, 5, scale=0.3)),
               lambda x, w: F.conv2d(x, w, None, 2, 2, 1, 5),
               lambda b, x, w: ops.depthwise_conv2d(x, w, None, 2, 2, backend=b), "conv2d"),
        TourOp("separable_conv2d 3x3", lambda g: (rnd(g, 2, 6, 9, 9), rnd(g, 6, 1, 3, 3, scale=.3),
                                                    rnd(g, 10, 6, 1, 1, scale=0.4)),
               lambda x, dw, pw: F.conv2d(F.conv2d(x, dw, None, 1, 1, 1, 6), pw),
               lambda b, x, dw, pw: ops.separable_conv2d(x, dw, pw, padding=1, backend=b)),
        TourOp("conv2d winograd_2x2", lambda g: (rnd(g, 2, 8, 9, 7), rnd(g, 8, 8, 3, 3, scale=.2)),
               lambda x, w: F.conv2d(x, w, None, 1, 1),
               lambda b, x, w: ops.conv2d(x, w, None, 1, 1, algo="winograd_2x2", backend=b)),
        TourOp("resize_conv2d nearest x2", lambda g: (rnd(g, 2, 4, 6, 5),
                                                       rnd(g, 3, 4, 3, 3, scale=0.3)),
               lambda x, w: F.conv2d(F.interpolate(x, scale_factor=2), w, None, 1, 1),
               lambda b, x, w: ops.resize_conv2d(x, w, None, 2, "nearest", 1, backend=b)),
        TourOp("resize_conv2d bilinear x2", lambda g: (rnd(g, 2, 4, 6, 5),
                                                        rnd(g, 3, 4, 3, 3, scale=0.3)),
               lambda x, w: F.conv2d(F.interpolate(x, scale_factor=2, mode="bilinear"), w,
                                     None, 1, 1),
               lambda b, x, w: ops.resize_conv2d(x, w, None, 2, "bilinear", 1, backend=b)),
        TourOp("local_conv2d 3x3", lambda g: (rnd(g, 2, 3, 6, 6),
                                               rnd(g, 4, 4, 5, 3, 3, 3, scale=0.3)),
               lambda x, w: torch.einsum("ncpqij,pqkcij->nkpq",
                                         F.unfold(x, 3).view(2, 3, 3, 3, 4, 4)
                                         .permute(0, 1, 4, 5, 2, 3), w),
               lambda b, x, w: ops.local_conv2d(x, w, None, backend=b)),
    ]


def _rel(a, b) -> float:
    if not a.is_floating_point():
        return 0.0 if a.cpu().equal(b.cpu()) else float("inf")
    return (a.double().cpu() - b.double()).abs().max().item() / (b.double().abs().max().item()
                                                                 or 1.0)


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _entry(op: TourOp, backend: str, dname: str, device: str) -> dict:
    import torch

    from .cputour import backend_problem
    dtype = {"fp32": torch.float32, "fp16": torch.float16}[dname]
    res = dict(op=op.name, backend=backend, dtype=dname, status="ok", err=None, bound=None,
               note="")
    inputs = op.make(torch.Generator().manual_seed(len(op.name)))
    typed = tuple(t.to(dtype) for t in inputs)
    why = backend_problem(op.registry_op or op.name.split()[0], backend, device, dtype)
    if why:
        res.update(status="unavailable", note=why)
        return res
    t0 = time.monotonic()
    ref = _as_tuple(op.torch_fn(*(t.double() for t in typed)))
    own = _as_tuple(op.torch_fn(*(t.float() for t in typed)) if dtype == torch.float16 and
                    device == "cpu" else op.torch_fn(*(t.to(device) for t in typed)))
    try:
        with torch.no_grad():
            got = _as_tuple(op.ours(backend, *(t.to(device) for t in typed)))
    except NotImplementedError as e:   # e.g. aten has no CPU fp16 avg_pool3d (torch's LRN)
        res.update(status="unavailable", note=f"PyTorch itself: {str(e)[:100]}")
        return res
    except Exception as e:
        res.update(status="error", note=f"{type(e).__name__}: {str(e)[:140]}")
        return res
    err = max(_rel(g, r) for g, r in zip(got, ref, strict=True))
    base = max(_rel(o.to(g.dtype) if o.is_floating_point() else o, r)
               for o, g, r in zip(own, got, ref, strict=True))
    res.update(err=err, bound=2 * base + _ATOL[dname], seconds=time.monotonic() - t0)
    if not err <= res["bound"]:
        res.update(status="FAIL", note=f"error {err:.2e} > bound {res['bound']:.2e}")
    return res


def op_tour(device: str = "cpu", dtypes=("fp32", "fp16"), log=print) -> list[dict]:
    """One result per (op, backend, dtype); prints a table via ``log``."""
    results = [_entry(op, b, d, device) for op in _ops() for b in ("torch", "triton", "cuda")
               for d in dtypes]
    log(f"{'op':<32} {'backend':<7} {'dtype':<5} {'max err':>9} {'bound':>9}  result")
    for r in results:
        if r["status"] == "unavailable":
            continue
        err = f"{r['err']:.2e}" if r["err"] is not None else "-"
        bound = f"{r['bound']:.2e}" if r["bound"] is not None else "-"
        verdict = "pass" if r["status"] == "ok" else f"{r['status']} ({r['note']})"
        log(f"{r['op']:<32} {r['backend']:<7} {r['dtype']:<5} {err:>9} {bound:>9}  {verdict}")
    skipped = {}
    for r in results:
        if r["status"] == "unavailable":
            skipped.setdefault(r["note"], []).append(f"{r['op'].split()[0]} {r['backend']} "
                                                     f"{r['dtype']}")
    for why, which in skipped.items():
        shown = ", ".join(sorted(set(which))[:4]) + (", ..." if len(set(which)) > 4 else "")
        log(f"  not run ({shown}): {why}")
    return results
