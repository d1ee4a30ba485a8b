"""Generic benchmark runner for every op family and network beyond the conv suite.

A family describes its rows in ``convkernels/bench/cases_<family>.py``::

    def cases() -> list[OpCase]        # every benchmark row; priority 0 = the headline targets

and each ``OpCase`` carries a ``build(case, device) -> Workload``: the inputs (built once),
the eager PyTorch baseline (the "cudnn" row: cuDNN/aten through torch, and what
``torch.compile`` compiles) and ``ours(backend)`` (the convkernels call). This module checks
every backend against the baseline before timing it (a wrong kernel has no speed), times
forward or forward+backward, and writes rows in the report schema of
:mod:`convkernels.bench.report`, so ``pytest bench/`` merges them into the same report as the
conv suite. A ``bench/test_<family>.py`` is two lines::

    def pytest_generate_tests(metafunc): opbench.parametrize(metafunc, cases_pool.cases())
    def test_pool(case, bench_ctx, bench_rows): opbench.run_and_record(case, bench_ctx, bench_rows)
"""

from __future__ import annotations

import importlib
import pkgutil
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .. import _peaks
from .report import new_row
from .runner import Context, cuda_broken, guarded, progress_line, rel_err, time_backends
from .timing import measure

BACKENDS = ("cuda", "triton", "cudnn", "compile")
_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# Normalized max error (max|out - ref| / max|ref|) accepted without the float64 re-check.
_QUICK_TOL = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 3e-2}
_ATOL64 = {"fp32": 1e-5, "fp16": 1e-3, "bf16": 8e-3}


@dataclass(frozen=True)
class OpCase:
    """One benchmark row group: an op (or network) on one shape, dtype and layout."""

    suite: str                 # the family: "pool", "winograd", "models", ...
    op: str                    # public op (or network) name, e.g. "max_pool2d"
    mode: str                  # "fwd" | "fwd+bwd"
    network: str               # the network the shape comes from
    layer: str                 # the layer's name in that network
    params: dict = field(hash=False, compare=False)   # JSON-able; must hold "N"
    dtype: str = "fp16"        # fp32 | fp16 | bf16
    layout: str = "channels_last"   # channels_last | nchw
    priority: int = 5          # 0 runs first: the headline configurations (the targets)
    build: Optional[Callable[["OpCase", str], "Workload"]] = field(
        default=None, hash=False, compare=False, repr=False)
    tf32: bool = False
    compile_baseline: Optional[bool] = None   # None: measured for priority 0 and 1 only
    variant: str = ""          # distinguishes rows of one layer (e.g. "+indices", "winograd_4x4")

    @property
    def N(self) -> int:
        return int(self.params["N"])

    @property
    def id(self) -> str:
        dt = self.dtype + ("+tf32" if self.tf32 else "")
        op = self.op + (f"[{self.variant}]" if self.variant else "")
        return f"{op}-{self.mode}-{self.network}-{self.layer}-b{self.N}-{dt}-{self.layout}"

    @property
    def measures_compile(self) -> bool:
        return self.priority <= 1 if self.compile_baseline is None else self.compile_baseline

    def torch_dtype(self):
        import torch
        return getattr(torch, _DTYPES[self.dtype])

    def memory_format(self):
        import torch
        return torch.channels_last if self.layout == "channels_last" else torch.contiguous_format

    def generator(self, device: str):
        """A generator seeded from the case id: the same inputs in every run."""
        import torch
        return torch.Generator(device=device).manual_seed(zlib.crc32(self.id.encode()))


@dataclass
class Workload:
    """What ``OpCase.build`` returns: everything needed to check and time one case."""

    inputs: tuple                                # tensors (and plain values) passed to both
    eager: Callable[..., object]                 # PyTorch baseline: Tensor or tuple of them
    ours: Callable[[str], Callable[..., object]]  # backend -> convkernels implementation
    min_bytes: float                             # compulsory DRAM traffic of one timed call
    flops: Optional[float] = None                # useful forward FLOPs; None: memory-bound
    note: str = ""                               # shown in the row's reason when set


# ---- discovery and pytest plumbing ---------------------------------------------------------

def family_modules() -> dict[str, object]:
    """``cases_<family>`` modules of this package, by family name."""
    from convkernels import bench
    out = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("cases_"):
            out[info.name[len("cases_"):]] = importlib.import_module(
                f"convkernels.bench.{info.name}")
    return out


def marks(case: OpCase) -> list[str]:
    """Marker names (registered in bench/conftest.py); select rows with -k on ids too."""
    m = ["opbench", "bench_timing", "cuda", case.dtype, case.layout,
         "train" if case.mode == "fwd+bwd" else "eval"]
    if case.priority <= 1:
        m.append("headline")
    return m


def parametrize(metafunc, cases: Sequence[OpCase]) -> None:
    import pytest
    if "case" not in metafunc.fixturenames:
        return
    params = [pytest.param(c, id=c.id, marks=[getattr(pytest.mark, m) for m in marks(c)])
              for c in cases]
    metafunc.parametrize("case", params)


def run_and_record(case: OpCase, ctx: Context, writer) -> list[dict]:
    """The body of every ``bench/test_<family>.py`` test: run, record, fail on a wrong result."""
    import pytest
    rows = run_case(case, ctx)
    writer.add(rows)
    ctx.done += 1
    ctx.log(progress_line(ctx.done, ctx.total, case, rows, ctx.elapsed()))
    errors = [f"{r['backend']}: {r['reason']}" for r in rows if r["status"] == "error"]
    if errors:
        pytest.fail(f"{case.id}: " + "; ".join(errors), pytrace=False)
    if all(r["status"] == "skipped" for r in rows):
        pytest.skip(rows[0]["reason"])
    return rows


# ---- one case --------------------------------------------------------------------------------

def result_row(case: OpCase, backend: str, status: str, reason: Optional[str] = None,
               **fields) -> dict:
    return new_row(suite=case.suite, op=case.op + (f"[{case.variant}]" if case.variant else ""),
                   mode=case.mode, network=case.network, layer=case.layer,
                   shape=dict(case.params), dtype=case.dtype, tf32=case.tf32,
                   layout=case.layout, backend=backend, status=status, reason=reason, **fields)


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _timed_unit(case: OpCase, f, inputs: tuple, grad_outs: dict):
    """forward without autograd in "fwd" mode; forward + backward into every input that
    requires grad in "fwd+bwd" mode (the gradients are part of the outputs checked)."""
    import torch
    if case.mode == "fwd":
        def run():
            with torch.no_grad():
                return _as_tuple(f(*inputs))
        return run
    wrt = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]

    def run_train():
        outs = _as_tuple(f(*inputs))
        diff = [o for o in outs if o.is_floating_point() and o.requires_grad]
        gos = [grad_outs.setdefault(i, _grad_like(case, o)) for i, o in enumerate(diff)]
        grads = torch.autograd.grad(diff, wrt, gos, allow_unused=True)
        return tuple(o.detach() for o in outs) + tuple(g for g in grads if g is not None)
    return run_train


def _grad_like(case: OpCase, out):
    import torch
    g = torch.randn(out.shape, generator=case.generator(out.device.type), device=out.device)
    return g.to(out.dtype).contiguous(memory_format=case.memory_format()
                                      if out.dim() == 4 else torch.contiguous_format)


def _float64(case: OpCase, work: Workload, grad_outs: dict) -> tuple:
    """The baseline's outputs (and gradients) with every floating input promoted to float64."""
    import torch
    inputs = tuple(t.detach().double().requires_grad_(t.requires_grad)
                   if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                   for t in work.inputs)
    go64 = {i: g.double() for i, g in grad_outs.items()}
    return _timed_unit(case, work.eager, inputs, go64)()


def check(case: OpCase, outs: tuple, ref: tuple, work: Workload, grad_outs: dict,
          cache: dict) -> tuple[bool, float, str]:
    """(passes, max normalized error vs the baseline, note)."""
    if len(outs) != len(ref) or any(o.shape != r.shape for o, r in zip(outs, ref, strict=True)):
        return False, float("inf"), (f"wrong output shapes {[tuple(o.shape) for o in outs]}, "
                                     f"expected {[tuple(r.shape) for r in ref]}")
    if any(o.dtype != r.dtype for o, r in zip(outs, ref, strict=True)):
        return False, float("inf"), (f"wrong output dtypes {[o.dtype for o in outs]}, "
                                     f"expected {[r.dtype for r in ref]}")
    errs = [rel_err(o, r) for o, r in zip(outs, ref, strict=True)]
    err = max(errs, default=0.0)
    if err != err:
        return False, err, "output contains NaN where the baseline's does not"
    if err <= _QUICK_TOL[case.dtype] * (3 if case.mode == "fwd+bwd" else 1):
        return True, err, ""
    if "ref64" not in cache:
        cache["ref64"] = _float64(case, work, grad_outs)
    for i, (o, r, r64) in enumerate(zip(outs, ref, cache["ref64"], strict=True)):
        if not o.is_floating_point():
            if errs[i]:
                return False, err, f"output {i} (integer, e.g. indices) differs from the baseline"
            continue
        ours64, base64 = rel_err(o, r64), rel_err(r, r64)
        if ours64 > 2 * base64 + _ATOL64[case.dtype]:
            return False, err, (f"wrong result (output {i}): max normalized error vs baseline "
                                f"{err:.2e}; vs float64 {ours64:.2e} > 2x baseline's "
                                f"{base64:.2e} + {_ATOL64[case.dtype]:.0e}")
    return True, err, "over the quick tolerance but within 2x the baseline's error vs float64"


def _metrics(case: OpCase, work: Workload, ctx: Context, ms: float) -> dict:
    sec = ms * 1e-3
    out: dict = {"gbps": work.min_bytes / sec / 1e9 if work.min_bytes else None}
    if ctx.peaks is not None and out["gbps"]:
        out["pct_hbm"] = 100 * out["gbps"] / (ctx.peaks.hbm_tbps * 1e3)
    if work.flops:
        out["tflops"] = work.flops * (3 if case.mode == "fwd+bwd" else 1) / sec / 1e12
        peak = _peaks.compute_peak_tflops(ctx.peaks, case.dtype, case.tf32)
        out["pct_peak"] = 100 * out["tflops"] / peak if peak else None
    return out


def _peak_mb(fn) -> Optional[float]:
    """Extra device memory one call allocates at its peak, beyond what was already allocated."""
    import torch
    if not torch.cuda.is_available():
        return None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _declared(op: str, backend: str, inputs: tuple) -> Optional[str]:
    """What convkernels.backends says about ``op`` on ``backend`` ("" = supported)."""
    try:
        import torch

        from convkernels import backends
        x = next(t for t in inputs if isinstance(t, torch.Tensor))
        return backends.backend_problem(backend, backends.Call(op, x.device, x.dtype))
    except Exception:
        return None


def run_case(case: OpCase, ctx: Context) -> list[dict]:
    """Rows for every backend of ``case`` (ok, skipped or error); never raises for a backend."""
    return guarded(case, ctx, result_row, _run)


def _compiled(work: Workload):
    import torch
    torch._dynamo.reset()
    return torch.compile(work.eager, dynamic=False)


def _run(case: OpCase, ctx: Context) -> list[dict]:
    work = case.build(case, ctx.device)
    grad_outs: dict = {}
    base = _timed_unit(case, work.eager, work.inputs, grad_outs)
    ref = base()
    fns, rows, cache = {"cudnn": base}, {}, {}
    extras: dict[str, dict] = {b: {} for b in ctx.backends}
    for b in ctx.backends:
        if b == "cudnn":
            continue
        try:
            if b == "compile":
                if not case.measures_compile:
                    rows[b] = result_row(case, b, "skipped", "torch.compile baseline is "
                                         "measured on the headline (priority 0-1) cases only")
                    continue
                t0 = time.monotonic()
                fn = _timed_unit(case, _compiled(work), work.inputs, grad_outs)
                outs = fn()
                extras[b] = dict(compile_mode="default", compile_s=time.monotonic() - t0)
            else:
                fn = _timed_unit(case, work.ours(b), work.inputs, grad_outs)
                outs = fn()
        except Exception as e:
            broken = cuda_broken()
            declared = _declared(case.op, b, work.inputs) if b in ("cuda", "triton") else None
            status = "error" if broken or declared == "" else "skipped"
            rows[b] = result_row(case, b, status, f"{type(e).__name__}: {str(e)[:300]}")
            if broken:
                ctx.fatal = f"{b} on {case.id}: {broken}"
                break
            continue
        ok, err, note = check(case, outs, ref, work, grad_outs, cache)
        extras[b]["max_err"] = err
        extras[b]["reason"] = "; ".join(n for n in (work.note, note) if n) or None
        if not ok:
            rows[b] = result_row(case, b, "error", **extras[b])
            continue
        fns[b] = fn
    extras["cudnn"]["reason"] = work.note or None
    del ref, cache
    return time_backends(
        case, ctx, fns, rows, extras, result_row,
        lambda fn: (measure(fn, ctx.timing),
                    {"peak_mb": _peak_mb(fn) if ctx.device == "cuda" else None}),
        lambda ms: _metrics(case, work, ctx, ms))
