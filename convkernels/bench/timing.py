"""GPU timing with CUDA events: warm-up, L2 flush between reps, median and p20/p80.

``measure`` uses ``triton.testing.do_bench`` when Triton is importable (it records one CUDA
event pair per rep and zeroes a 256 MB buffer before each rep, so every rep starts with a
cold L2, as a layer inside a real network does) and otherwise an equivalent
``torch.cuda.Event`` loop written here. Both honour a cap on the total time per measurement,
so one slow kernel cannot eat the suite's time budget.

do_bench's signature is ``(fn, warmup=25, rep=100, grad_to_none=None, quantiles=None,
return_mode="mean")`` in triton 3.x (3.6 on the GPU machine and 3.9 in CI; ``fast_flush``
was removed in 3.2); we pass only the keywords the installed version accepts.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

QUANTILES = (0.5, 0.2, 0.8)
FLUSH_BYTES = 256 * 1024 * 1024   # > 5x the 50 MB L2 of an H100


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p20_ms: float
    p80_ms: float
    method: str          # "triton.do_bench" | "cuda-events" — recorded in the report's meta


@dataclass(frozen=True)
class TimingConfig:
    warmup_ms: float = 10.0    # after the first call, which already paid compile/autotune
    rep_ms: float = 40.0       # target time spent in timed reps
    max_total_s: float = 3.0   # hard cap on one measurement, warm-up included
    min_reps: int = 5

    @classmethod
    def quick(cls) -> "TimingConfig":
        return cls(warmup_ms=5.0, rep_ms=15.0, max_total_s=1.5, min_reps=3)


def _do_bench():
    try:
        from triton.testing import do_bench
    except Exception:   # triton missing or broken: the event loop below does the same job
        return None
    return do_bench


def _single_call_ms(fn: Callable[[], object]) -> float:
    """Time one (already warmed) call, to choose how many reps fit in the cap."""
    import torch
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


def _quantile(sorted_ms: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (torch.quantile's default)."""
    pos = q * (len(sorted_ms) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo)


def _event_loop(fn, n_warmup: int, n_reps: int) -> list[float]:
    import torch
    flush = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    for _ in range(n_warmup):
        fn()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n_reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n_reps)]
    for i in range(n_reps):
        flush.zero_()            # evict the previous rep's data from L2
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    return sorted(s.elapsed_time(e) for s, e in zip(starts, ends, strict=True))


def measure(fn: Callable[[], object], config: Optional[TimingConfig] = None,
            prefer_triton: bool = True) -> Timing:
    """Median and p20/p80 of ``fn``'s GPU time in ms. ``fn`` must already have run once
    (compilation, autotuning and cuDNN's algorithm search are not part of the measurement)."""
    config = config or TimingConfig()
    once_ms = max(_single_call_ms(fn), 1e-3)
    # do_bench runs 1 + 5 estimate calls + warm-up + reps; only use it when that fits the cap.
    expected_s = (6 * once_ms + config.warmup_ms + config.rep_ms) / 1e3
    do_bench = _do_bench() if prefer_triton else None
    if do_bench is not None and expected_s <= config.max_total_s:
        params = inspect.signature(do_bench).parameters
        kwargs = {"warmup": config.warmup_ms, "rep": config.rep_ms, "quantiles": list(QUANTILES)}
        if "return_mode" in params:
            kwargs["return_mode"] = "median"   # ignored when quantiles is given; explicit anyway
        kwargs = {k: v for k, v in kwargs.items() if k in params}
        out = do_bench(fn, **kwargs)
        med, p20, p80 = (float(v) for v in out)
        return Timing(med, p20, p80, "triton.do_bench")
    budget_ms = config.max_total_s * 1e3
    wanted = max(config.min_reps, config.rep_ms / once_ms)
    n_reps = int(max(1, min(wanted, budget_ms / once_ms / 2)))   # the cap wins over min_reps
    n_warmup = int(max(1, min(config.warmup_ms / once_ms, n_reps / 4)))
    ms = _event_loop(fn, n_warmup, n_reps)
    return Timing(_quantile(ms, 0.5), _quantile(ms, 0.2), _quantile(ms, 0.8), "cuda-events")
