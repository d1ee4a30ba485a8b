"""What the benchmark does without a GPU: a correctness tour and the layer table.

The tour runs every public conv op (conv2d; fused_conv_bn_relu in eval and in train mode)
on every backend this machine has — ``torch`` always, ``triton`` under ``TRITON_INTERPRET=1``,
``cuda`` only with a GPU — on a few small, awkward shapes, and compares each result (and, in
train mode, the gradients) with a float64 reference. Pass rule (tests/harness.py): our error
against float64 is at most 2x PyTorch's own error in the same dtype, plus a small atol.
"""

from __future__ import annotations

import os
import time
from typing import Optional

# (N, C, H, W, K, R, S, stride, padding, dilation): odd sizes, 1x1/2, 5x5/2, dilation 2.
TOUR_SHAPES = (
    (2, 3, 9, 9, 4, 3, 3, 1, 1, 1),
    (1, 8, 8, 8, 16, 1, 1, 2, 0, 1),
    (2, 5, 11, 7, 6, 5, 5, 2, 2, 1),
    (1, 4, 10, 10, 4, 3, 3, 1, 2, 2),
)
TOUR_OPS = (("conv2d", "eval"), ("fused_conv_bn_relu", "eval"), ("fused_conv_bn_relu", "train"))
_ATOL = {"fp32": 1e-5, "fp16": 1e-3}


def _rel(a, b) -> float:
    return (a.double() - b.double()).abs().max().item() / (b.double().abs().max().item() or 1.0)


def _tensors(shape, dtype, layout, seed):
    import torch
    N, C, H, W, K, R, S, *_ = shape
    g = torch.Generator().manual_seed(seed)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    t = dict(x=torch.randn(N, C, H, W, generator=g),
             w=torch.randn(K, C, R, S, generator=g) / (C * R * S) ** 0.5,
             b=0.1 * torch.randn(K, generator=g), rm=0.1 * torch.randn(K, generator=g),
             rv=0.5 + torch.rand(K, generator=g), gamma=1 + 0.1 * torch.randn(K, generator=g),
             beta=0.1 * torch.randn(K, generator=g))
    td = {k: (v.to(dtype) if k in ("x", "w", "b") else v.clone()) for k, v in t.items()}
    td["x"] = td["x"].contiguous(memory_format=fmt)
    td["w"] = td["w"].contiguous(memory_format=fmt)
    # The reference sees exactly the (rounded) values the kernels see: only the arithmetic
    # differs, which is what the comparison is about.
    t64 = {k: v.double() for k, v in td.items()}
    return t64, td


def _apply(op, mode, t, shape, fn_conv, fn_fused):
    """Run the op on tensors ``t``; in train mode also return grads of x, w, gamma, beta."""
    import torch
    stride, padding, dilation = shape[7], shape[8], shape[9]
    train = mode == "train"
    # The conv bias's gradient through training-mode BN is identically zero (BN subtracts the
    # batch mean), so comparing it would compare rounding noise; it is left out.
    wrt = ("x", "w", "gamma", "beta")
    if train:
        for k in wrt:
            t[k] = t[k].detach().requires_grad_(True)
    if op == "conv2d":
        out = fn_conv(t["x"], t["w"], t["b"], stride, padding, dilation, 1)
    else:
        out = fn_fused(t["x"], t["w"], t["b"], t["rm"].clone(), t["rv"].clone(), t["gamma"],
                       t["beta"], stride, padding, dilation, 1, train)
    if not train:
        return [out.detach()]
    g = torch.Generator().manual_seed(7)
    grad_out = torch.randn(out.shape, generator=g).to(out.dtype)
    grads = torch.autograd.grad(out, [t[k] for k in wrt], grad_out)
    return [out.detach()] + list(grads)


def _torch_fns():
    import torch
    import torch.nn.functional as F

    def fused(x, w, b, rm, rv, gamma, beta, stride, padding, dilation, groups, train):
        y = F.conv2d(x, w, b, stride, padding, dilation, groups)
        y = F.batch_norm(y, rm, rv, gamma, beta, train, 0.1, 1e-5)
        return torch.relu(y)
    return F.conv2d, fused


def _ours_fns(backend):
    from convkernels import ops

    def conv(x, w, b, stride, padding, dilation, groups):
        return ops.conv2d(x, w, b, stride, padding, dilation, groups, backend=backend)

    def fused(x, w, b, rm, rv, gamma, beta, stride, padding, dilation, groups, train):
        return ops.fused_conv_bn_relu(x, w, b, rm, rv, gamma, beta, stride, padding, dilation,
                                      groups, eps=1e-5, momentum=0.1, training=train,
                                      relu=True, backend=backend)
    return conv, fused


def backend_problem(op: str, backend: str, device: str, dtype) -> Optional[str]:
    try:
        import torch

        from convkernels import backends
        return backends.backend_problem(backend, backends.Call(op, torch.device(device), dtype))
    except Exception:
        return None   # the package cannot tell: try the call and see


def _tour_entry(op, mode, backend, dname, layout, device) -> dict:
    """Every tour shape for one (op, mode, backend, dtype, layout); stops at the first error."""
    import torch
    dtype = {"fp32": torch.float32, "fp16": torch.float16}[dname]
    res = dict(op=op, mode=mode, backend=backend, dtype=dname, layout=layout, passed=0,
               total=len(TOUR_SHAPES), worst=None, bound=None, status="ok", note="")
    why = backend_problem(op, backend, device, dtype)
    if why:
        res.update(status="unavailable", note=why)
        return res
    ref_fns, t0 = _torch_fns(), time.monotonic()
    for i, shape in enumerate(TOUR_SHAPES):
        t64, td = _tensors(shape, dtype, layout, seed=100 + i)
        td = {k: v.to(device) for k, v in td.items()}
        ref = _apply(op, mode, t64, shape, *ref_fns)                       # float64 truth
        own = _apply(op, mode, {k: v.cpu().clone() for k, v in td.items()}, shape, *ref_fns)
        try:
            got = _apply(op, mode, td, shape, *_ours_fns(backend))
        except Exception as e:
            res.update(status="error", note=f"{type(e).__name__}: {str(e)[:160]}")
            break
        err = max(_rel(g.cpu(), r) for g, r in zip(got, ref, strict=True))
        torch_err = max(_rel(o, r) for o, r in zip(own, ref, strict=True))
        bound = 2 * torch_err + _ATOL[dname]
        res["worst"] = max(res["worst"] or 0.0, err)
        res["bound"] = max(res["bound"] or 0.0, bound)
        if err <= bound:
            res["passed"] += 1
        else:
            res["status"] = "FAIL"
            res["note"] = f"shape {shape}: error {err:.2e} > bound {bound:.2e}"
    res["seconds"] = time.monotonic() - t0
    return res


def correctness_tour(device: str = "cpu", dtypes=("fp32", "fp16"),
                     layouts=("nchw", "channels_last"), log=print) -> list[dict]:
    """One result dict per (op, mode, backend, dtype, layout); prints a table via ``log``."""
    results = [_tour_entry(op, mode, backend, dname, layout, device)
               for op, mode in TOUR_OPS for backend in ("torch", "triton", "cuda")
               for dname in dtypes for layout in layouts]
    _print_tour(results, log)
    return results


def _print_tour(results, log) -> None:
    log(f"{'op':<20} {'mode':<5} {'backend':<7} {'dtype':<5} {'layout':<13} {'shapes':>6} "
        f"{'max err':>9} {'bound':>9}  result")
    for r in results:
        shapes = f"{r['passed']}/{r['total']}" if r["status"] != "unavailable" else "-"
        err = f"{r['worst']:.2e}" if r["worst"] is not None else "-"
        bound = f"{r['bound']:.2e}" if r["bound"] is not None else "-"
        verdict = "pass" if r["status"] == "ok" else r["status"]
        note = f"  ({r['note']})" if r["note"] and r["status"] != "unavailable" else ""
        log(f"{r['op']:<20} {r['mode']:<5} {r['backend']:<7} {r['dtype']:<5} {r['layout']:<13} "
            f"{shapes:>6} {err:>9} {bound:>9}  {verdict}{note}")
    reasons = {}
    for r in results:
        if r["status"] == "unavailable":
            reasons.setdefault(r["backend"], r["note"])
    for b, why in reasons.items():
        log(f"  {b}: unavailable here: {why}")
    if os.environ.get("TRITON_INTERPRET") == "1":
        log("  (triton ran under TRITON_INTERPRET=1: correctness only, no speed)")


# ---- layer table ---------------------------------------------------------------------------

def _auto_choice(op: str, shape, dtype_name: str) -> tuple[str, dict]:
    """What backend ``auto`` picks for a CUDA tensor of this shape on this install."""
    try:
        import torch

        from convkernels import backends
        dtype = torch.float16 if dtype_name == "fp16" else torch.float32
        call = backends.Call(op, torch.device("cuda"), dtype, groups=shape.groups,
                             extra=dict(shape=shape.as_dict()))
        sel = backends.select(call, "auto")
        return sel.backend, dict(sel.skipped)
    except Exception as e:
        return "unknown", {"?": f"{type(e).__name__}: {e}"}


def layer_table(batch: int = 64, dtype: str = "fp16", log=print) -> None:
    from .shapes import NETWORKS
    notes: dict[str, str] = {}
    log(f"auto = the backend convkernels.backends would choose for a CUDA {dtype} tensor on "
        f"this install; GFLOP at batch {batch}")
    log(f"{'network':<9} {'layer':<22} {'shape':<38} {'count':>5} {'GFLOP':>8}  "
        f"auto conv2d / fused")
    for net, layers in NETWORKS.items():
        total = 0
        for s in layers:
            picks = []
            for op in ("conv2d", "fused_conv_bn_relu"):
                b, skipped = _auto_choice(op, s, dtype)
                picks.append(b)
                for k, v in skipped.items():
                    notes.setdefault(f"{k}: {v}", op)
            gflop = s.flops(batch) / 1e9
            total += gflop * s.count
            log(f"{net:<9} {s.name:<22} {s.describe():<38} {s.count:>5} {gflop:>8.1f}  "
                f"{picks[0]} / {picks[1]}")
        log(f"{net:<9} {'total (count-weighted)':<22} {'':<38} {'':>5} {total:>8.1f}")
    for why in notes:
        log(f"  not chosen — {why}")
