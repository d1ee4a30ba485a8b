"""Run one benchmark case on the GPU: build inputs, check every backend against cuDNN, time.

Backends per case: ``cuda`` and ``triton`` (ours, through ``convkernels.ops``), ``cudnn``
(eager PyTorch: F.conv2d, or Conv2d -> BatchNorm2d -> ReLU modules) and ``compile``
(torch.compile of the same eager code). The cuDNN output is the reference; a backend whose
output is off by more than the dtype's tolerance is re-judged against a float64 result with
the test suite's tolerance rule (its error at most 2x cuDNN's own, plus a small atol) and, if
it still fails, gets an "error" row with the numbers and is not timed: a wrong kernel has no speed.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import _peaks
from .report import derive_speedups, new_row
from .suite import MAX_AUTOTUNE, Case
from .timing import TimingConfig, measure

BACKENDS = ("cuda", "triton", "cudnn", "compile")
# Normalized max error (max|out - ref| / max|ref|) accepted without the float64 re-check.
_TOL = {("fp16", False): 1e-2, ("fp32", False): 1e-4, ("fp32", True): 1e-2}
_ATOL64 = {("fp16", False): 1e-3, ("fp32", False): 1e-5, ("fp32", True): 1e-3}
_TRAIN_TOL = {("fp16", False): 3e-2, ("fp32", False): 1e-3, ("fp32", True): 3e-2}


@dataclass
class Context:
    """State shared by the cases of one run: time budgets, peaks, settings for the meta."""

    timing: TimingConfig = field(default_factory=TimingConfig)
    budget_s: Optional[float] = None            # whole run; None = unlimited
    autotune_budget_s: float = 180.0            # compile time spent in max-autotune mode
    backends: tuple = BACKENDS
    log: Callable[[str], None] = print
    started: float = field(default_factory=time.monotonic)
    run_id: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    autotune_spent_s: float = 0.0
    fatal: Optional[str] = None                 # sticky CUDA error: later cases are skipped
    methods: set = field(default_factory=set)
    peaks: Optional[_peaks.Peaks] = None
    done: int = 0                               # progress: cases run / selected
    total: int = 0
    device: str = "cuda"                        # "cpu" only in the CPU self-test of this code
    env: Optional[dict] = None                  # device.capture(), taken once per run

    def __post_init__(self):
        import torch
        if torch.cuda.is_available():
            self.peaks = _peaks.peaks_for(torch.cuda.get_device_name(0))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def out_of_time(self) -> bool:
        return self.budget_s is not None and self.elapsed() > self.budget_s


@contextlib.contextmanager
def numerics(tf32: bool):
    """Pin cudnn.benchmark on and TF32 on or off for cuDNN, cuBLAS and our kernels (which read
    the same flags), restoring the caller's settings afterwards."""
    import torch
    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision())
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    try:
        yield
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = saved[:3]
        torch.set_float32_matmul_precision(saved[3])


# ---- inputs and the four implementations ---------------------------------------------------

def _inputs(case: Case, dev: str):
    import torch
    s = case.shape
    dtype = torch.float16 if case.dtype == "fp16" else torch.float32
    fmt = torch.channels_last if case.layout == "channels_last" else torch.contiguous_format
    g = torch.Generator(device=dev).manual_seed(zlib.crc32(case.id.encode()))
    conv = torch.nn.Conv2d(s.C, s.K, (s.R, s.S), s.stride, s.padding, s.dilation, s.groups,
                           bias=s.bias, device=dev, dtype=dtype).to(memory_format=fmt)
    bn = torch.nn.BatchNorm2d(s.K, device=dev)   # fp32 parameters and stats, as under AMP
    with torch.no_grad():   # weights scaled so every output is O(1) in fp16
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g, device=dev)
                          / (s.C // s.groups * s.R * s.S) ** 0.5)
        if conv.bias is not None:
            conv.bias.copy_(0.1 * torch.randn(s.K, generator=g, device=dev))
        bn.running_mean.copy_(0.1 * torch.randn(s.K, generator=g, device=dev))
        bn.running_var.copy_(0.5 + torch.rand(s.K, generator=g, device=dev))
        bn.weight.copy_(1 + 0.1 * torch.randn(s.K, generator=g, device=dev))
        bn.bias.copy_(0.1 * torch.randn(s.K, generator=g, device=dev))
    x = torch.randn(case.N, s.C, s.H, s.W, generator=g, device=dev).to(dtype).contiguous(
        memory_format=fmt)
    return x, conv, bn


def _eager(case: Case, conv, bn):
    import torch
    import torch.nn.functional as F
    s = case.shape
    if case.op == "conv2d":
        return lambda x: F.conv2d(x, conv.weight, conv.bias, s.stride, s.padding, s.dilation,
                                  s.groups)
    stack = torch.nn.Sequential(conv, bn, torch.nn.ReLU(inplace=True))   # as torchvision has it
    return stack.train(case.mode == "train")


def _ours(case: Case, conv, bn, backend: str):
    from convkernels import ops
    s = case.shape
    if case.op == "conv2d":
        return lambda x: ops.conv2d(x, conv.weight, conv.bias, s.stride, s.padding, s.dilation,
                                    s.groups, backend=backend)
    # The module, as a model would hold it (and as the eager baseline is three modules): in
    # eval it reuses its cached BN fold instead of refolding on every call like the functional
    # op. It shares conv and bn with the baseline, so both see the same parameters.
    import torch

    from convkernels.nn import ConvBNReLU2d
    block = ConvBNReLU2d.from_modules(conv, bn, torch.nn.ReLU(), backend=backend)
    return block.train(case.mode == "train")


def _call(case: Case, f, x, conv, bn, grad_out):
    """The timed unit: forward (no autograd graph) in eval, forward + backward in train."""
    import torch
    if case.mode == "eval":
        def run():
            with torch.no_grad():
                return (f(x),)
        return run
    # Not the conv bias: through training-mode BN its gradient is identically zero (BN removes
    # the batch mean), so checking it would compare rounding noise. It is still computed.
    params = [x, conv.weight, bn.weight, bn.bias]

    def run_train():
        out = f(x)
        return (out,) + torch.autograd.grad(out, params, grad_out)
    return run_train


def _declared(op: str, backend: str, x) -> Optional[str]:
    """What convkernels.backends says about running ``op`` on ``backend`` ("" = supported,
    text = why not, None = the package cannot tell)."""
    try:
        from convkernels import backends
        return backends.backend_problem(backend, backends.Call(op, x.device, x.dtype))
    except Exception:
        return None


# ---- checking ------------------------------------------------------------------------------

def rel_err(a, b) -> float:
    """max|a - b| / max|b|; integer outputs (indices) are exact: 0 or inf."""
    if not a.is_floating_point():
        return 0.0 if a.equal(b) else float("inf")
    if not a.numel():
        return 0.0
    scale = b.double().abs().max().item() or 1.0
    return (a.double() - b.double()).abs().max().item() / scale


def _float64_outputs(case: Case, x, conv, bn, grad_out):
    """The case's outputs (and, in train mode, gradients) computed in float64."""
    import torch
    import torch.nn.functional as F
    s, train = case.shape, case.mode == "train"
    x64, w64, g64, b64 = (t.detach().double().requires_grad_(train)
                          for t in (x, conv.weight, bn.weight, bn.bias))
    cb = None if conv.bias is None else conv.bias.detach().double()
    with torch.set_grad_enabled(train):
        y = F.conv2d(x64, w64, cb, s.stride, s.padding, s.dilation, s.groups)
        if case.op == "fused_conv_bn_relu":
            y = torch.relu(F.batch_norm(y, bn.running_mean.double(), bn.running_var.double(),
                                        g64, b64, train, 0.0, bn.eps))
    if not train:
        return (y,)
    return (y.detach(),) + torch.autograd.grad(y, (x64, w64, g64, b64), grad_out.double())


def check(case: Case, outs, ref, x, conv, bn, grad_out, cache: dict) -> tuple[bool, float, str]:
    """(passes, max normalized error vs cuDNN, note). Output and, in train mode, gradients."""
    if len(outs) != len(ref) or any(o.shape != r.shape for o, r in zip(outs, ref, strict=True)):
        return False, float("inf"), (f"wrong output shapes {[tuple(o.shape) for o in outs]}, "
                                     f"expected {[tuple(r.shape) for r in ref]}")
    err = max(rel_err(o, r) for o, r in zip(outs, ref, strict=True))
    key = (case.dtype, case.tf32)
    if err != err:   # NaN
        return False, err, "output contains NaN where cuDNN's does not"
    if err <= (_TOL if case.mode == "eval" else _TRAIN_TOL)[key]:
        return True, err, ""
    # Over the quick tolerance: judge both against float64 (a ReLU whose input rounds across
    # zero differently legitimately changes a gradient element; cuDNN shows the same effect).
    if "ref64" not in cache:
        cache["ref64"] = _float64_outputs(case, x, conv, bn, grad_out)
    names = ("output", "grad input", "grad weight", "grad bn weight", "grad bn bias")
    for name, o, r, r64 in zip(names, outs, ref, cache["ref64"], strict=False):
        ours64, cudnn64 = rel_err(o, r64), rel_err(r, r64)
        if ours64 > 2 * cudnn64 + _ATOL64[key]:
            return False, err, (f"wrong result ({name}): max normalized error vs cuDNN {err:.2e};"
                                f" vs float64 {ours64:.2e} > 2x cuDNN's {cudnn64:.2e} + "
                                f"{_ATOL64[key]:.0e}")
    return True, err, "over the quick tolerance but within 2x cuDNN's own error vs float64"


# ---- one case --------------------------------------------------------------------------------

def result_row(case: Case, backend: str, status: str, reason: Optional[str] = None,
               **fields) -> dict:
    s = case.shape
    shape = dict(N=case.N, C=s.C, H=s.H, W=s.W, K=s.K, R=s.R, S=s.S, stride=s.stride,
                 padding=s.padding, dilation=s.dilation, groups=s.groups)
    return new_row(suite="conv_ops", op=case.op, mode=case.mode, network=s.network,
                   layer=s.name, count=s.count, shape=shape, dtype=case.dtype, tf32=case.tf32,
                   layout=case.layout, backend=backend, status=status, reason=reason, **fields)


def _metrics(case: Case, ctx: Context, ms: float) -> dict:
    flops = case.shape.flops(case.N) * (3 if case.mode == "train" else 1)  # fwd + dgrad + wgrad
    tflops = flops / (ms * 1e-3) / 1e12
    peak = _peaks.compute_peak_tflops(ctx.peaks, case.dtype, case.tf32)
    nbytes = case.shape.min_bytes(case.N, 2 if case.dtype == "fp16" else 4)
    return dict(tflops=tflops, pct_peak=100 * tflops / peak if peak else None,
                gbps=nbytes / (ms * 1e-3) / 1e9 if case.mode == "eval" else None)


def cuda_broken() -> Optional[str]:
    """After an exception: is the CUDA context still usable? (An illegal address is sticky.)"""
    import torch
    if not torch.cuda.is_available():
        return None
    try:
        torch.cuda.synchronize()
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def _compiled(case: Case, eager, ctx: Context, mode: str):
    import torch
    torch._dynamo.reset()    # fresh caches: no recompile limit, no automatic dynamic shapes
    kwargs = {"dynamic": False}
    if mode != "default":
        kwargs["mode"] = mode
    return torch.compile(eager, **kwargs)


def _first_compiled_call(case, eager, ctx, x, conv, bn, grad_out):
    """Compile and run once; fall back from max-autotune to default mode if it is over budget
    or fails. Returns (fn, outs, mode, seconds, note)."""
    import torch
    mode, note = case.compile_mode, ""
    if mode == MAX_AUTOTUNE and ctx.autotune_spent_s >= ctx.autotune_budget_s:
        mode, note = "default", (f"max-autotune budget ({ctx.autotune_budget_s:.0f} s of "
                                 f"compile time) used up; default mode")
    while True:
        fn = _call(case, _compiled(case, eager, ctx, mode), x, conv, bn, grad_out)
        t0 = time.monotonic()
        try:
            outs = fn()
            if x.is_cuda:
                torch.cuda.synchronize()
        except Exception as e:
            if mode == "default" or cuda_broken():
                raise
            note = f"{mode} failed ({type(e).__name__}: {str(e)[:200]}); default mode"
            mode = "default"
            continue
        spent = time.monotonic() - t0
        if mode == MAX_AUTOTUNE:
            ctx.autotune_spent_s += spent
        return fn, outs, mode, spent, note


def run_case(case: Case, ctx: Context) -> list[dict]:
    """Rows for every backend of ``case`` (ok, skipped or error). Never raises for a backend's
    failure; the caller decides what an error row means for the test outcome."""
    return guarded(case, ctx, result_row, _run)


def guarded(case, ctx: Context, row: Callable, run: Callable) -> list[dict]:
    """``run(case, ctx)`` with the suite's rules around it, shared by the conv suite and
    opbench: after a sticky CUDA error or past the time budget every backend gets a
    "skipped" row; an exception before any backend ran (inputs, the baseline) or an OOM
    becomes "error" rows; numerics (TF32, cudnn.benchmark) are pinned for the case."""
    if ctx.fatal:
        return [row(case, b, "skipped", f"CUDA context unusable after an earlier failure: "
                    f"{ctx.fatal}") for b in ctx.backends]
    if ctx.out_of_time():
        return [row(case, b, "skipped", f"suite time budget ({ctx.budget_s:.0f} s) used up "
                    "before this case; select it in a separate run to measure it")
                for b in ctx.backends]
    import torch
    with numerics(case.tf32):
        try:
            return run(case, ctx)
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            return [row(case, b, "error", f"out of memory: {str(e)[:200]}") for b in ctx.backends]
        except Exception as e:   # the inputs or the baseline itself failed
            broken = cuda_broken()
            if broken:
                ctx.fatal = f"{case.id}: {broken}"
            return [row(case, b, "error", f"case failed before any backend ran: "
                        f"{type(e).__name__}: {str(e)[:300]}") for b in ctx.backends]
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _run(case: Case, ctx: Context) -> list[dict]:
    import torch
    x, conv, bn = _inputs(case, ctx.device)
    grad_out = None
    if case.mode == "train":
        x.requires_grad_(True)
        s = case.shape
        fmt = torch.channels_last if case.layout == "channels_last" else torch.contiguous_format
        grad_out = torch.randn(case.N, s.K, s.P, s.Q, device=x.device, dtype=x.dtype).contiguous(
            memory_format=fmt)
    eager = _eager(case, conv, bn)
    cudnn_fn = _call(case, eager, x, conv, bn, grad_out)
    ref = cudnn_fn()               # also runs cuDNN's algorithm search (benchmark=True)
    fns, rows, cache = {"cudnn": cudnn_fn}, {}, {}
    extras: dict[str, dict] = {b: {} for b in ctx.backends}
    for b in ctx.backends:
        if b == "cudnn":
            continue
        try:
            if b == "compile":
                if not case.compile_mode:
                    rows[b] = result_row(case, b, "skipped", "torch.compile baseline is "
                                         "measured at batch 64 channels_last and in the "
                                         "training subset only")
                    continue
                fn, outs, mode, secs, note = _first_compiled_call(case, eager, ctx, x, conv, bn,
                                                                  grad_out)
                extras[b] = dict(compile_mode=mode, compile_s=secs, reason=note or None)
            else:
                fn = _call(case, _ours(case, conv, bn, b), x, conv, bn, grad_out)
                outs = fn()
        except Exception as e:
            broken = cuda_broken()
            declared = _declared(case.op, b, x) if b in ("cuda", "triton") else None
            status = "error" if broken or declared == "" else "skipped"
            rows[b] = result_row(case, b, status, f"{type(e).__name__}: {str(e)[:300]}")
            if broken:
                ctx.fatal = f"{b} on {case.id}: {broken}"
                break
            continue
        ok, err, note = check(case, outs, ref, x, conv, bn, grad_out, cache)
        extras[b]["max_err"] = err
        extras[b]["reason"] = "; ".join(n for n in (extras[b].get("reason"), note) if n) or None
        if not ok:
            rows[b] = result_row(case, b, "error", **extras[b])
            continue
        fns[b] = fn
    del ref, cache
    return time_backends(case, ctx, fns, rows, extras, result_row,
                         lambda fn: (measure(fn, ctx.timing), {}),
                         lambda ms: _metrics(case, ctx, ms))


def time_backends(case, ctx: Context, fns: dict, rows: dict, extras: dict, row: Callable,
                  measure_one: Callable, metrics: Callable) -> list[dict]:
    """Time every backend that passed its check (``fns``), in the conv suite and opbench
    alike: ``measure_one(fn) -> (Timing, extra row fields)``, ``metrics(ms) -> row fields``.
    A failure while timing is an error row (and, if the CUDA context broke, ends the case);
    backends never reached get a "skipped" row. Returns the rows in ``ctx.backends`` order,
    with speedups filled in."""
    for b, fn in fns.items():
        if ctx.fatal:
            break
        try:
            t, more = measure_one(fn)
        except Exception as e:
            broken = cuda_broken()
            rows[b] = row(case, b, "error", f"while timing: {type(e).__name__}: {str(e)[:300]}")
            if broken:
                ctx.fatal = f"{b} on {case.id} while timing: {broken}"
            continue
        ctx.methods.add(t.method)
        rows[b] = row(case, b, "ok", median_ms=t.median_ms, p20_ms=t.p20_ms, p80_ms=t.p80_ms,
                      timing_method=t.method, **more, **metrics(t.median_ms), **extras[b])
    for b in ctx.backends:
        rows.setdefault(b, row(case, b, "skipped", f"not run: {ctx.fatal or 'unknown'}"))
    out = [rows[b] for b in ctx.backends]
    derive_speedups(out)
    return out


def progress_line(index: int, total: int, case, rows: list[dict], elapsed: float) -> str:
    """One line per case, e.g. '[3/558 41s] conv2d-... | cudnn 0.412 ms | cuda 0.380 ms 1.08x'."""
    parts = []
    for r in rows:
        if r["status"] == "ok":
            sp = r.get("speedup_vs_cudnn")
            mode = f"[{r['compile_mode']}]" if r.get("compile_mode") else ""
            parts.append(f"{r['backend']}{mode} {r['median_ms']:.3f} ms"
                         + (f" {sp:.2f}x" if sp and r["backend"] != "cudnn" else ""))
        else:
            parts.append(f"{r['backend']} {r['status']}")
    return f"{progress_prefix(index, total, elapsed)} {case.id} | " + " | ".join(parts)


def progress_prefix(index: int, total: int, elapsed: float) -> str:
    """'[ 37/558   6% 41s, ~9m left]': a text progress bar that survives pytest's capture and
    log files (one line per case)."""
    width = len(str(total))
    pct = 100 * index // max(total, 1)
    left = elapsed / max(index, 1) * (total - index)
    eta = f"~{left / 60:.0f}m left" if left >= 90 else f"~{left:.0f}s left"
    return f"[{index:>{width}}/{total} {pct:3d}% {elapsed:.0f}s, {eta}]"
