"""Host overhead on the CPU: the per-call time of every public op and module against its
aten / ``torch.nn`` equivalent, and of a converted torchvision resnet18 against the original.

Everything runs on the torch backend with tiny tensors (batch 1, 4 channels, 8x8), one
thread and autograd off (``torch.no_grad``, as in inference), so the time measured is what
the Python layer around the arithmetic costs. Where torch has no single op for ours, the
baseline is the aten composition that computes the same result (the case says which); the
test suite checks that each pair agrees numerically.

Targets: a functional op at most 8 µs above its aten baseline; a module at most 1.2x its
torch module; the converted resnet18 (batch 1, 16x16) at most 1.1x the original.

Timing: the CPU time of the calling thread (``time.thread_time_ns``), not wall time: with
one torch thread every instruction of a call runs on it, and the time the thread waits while
other processes hold the cores (a loaded CI machine) is not counted. Both sides of a case are
measured in alternating repeats (so what load still changes, caches and clock speed, hits
both), each repeat a loop long enough to average out the clock, after a warm-up; the
per-call time is the median over repeats and the spread the interquartile range.
"""

from __future__ import annotations

import copy
import gc
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

OP_EXTRA_US = 8.0        # functional op: ours <= aten + 8 µs
MODULE_RATIO = 1.2       # module: ours <= 1.2x the torch module
MODEL_RATIO = 1.1        # converted model: ours <= 1.1x the original

Pair = tuple[Callable[[], object], Callable[[], object]]   # (ours, torch), no arguments


@dataclass(frozen=True)
class Case:
    """One comparison. ``build`` makes fresh tensors/modules and returns the two calls."""

    name: str
    kind: str            # "op" | "module" | "model"
    baseline: str        # what the torch side runs
    build: Callable[[], Pair]
    covers: tuple[str, ...] = ()   # public names this case measures (default: its own name)

    def covered(self) -> tuple[str, ...]:
        return self.covers or (self.name.split(".", 1)[1],)


def _rand(*shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _channel(v: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, 1, 1)


# ---- functional ops -------------------------------------------------------------------------

def _op_cases() -> list[Case]:
    from convkernels import ops, reference

    x, w, b = _rand(1, 4, 8, 8), _rand(4, 4, 3, 3, seed=1), _rand(4, seed=2)
    scale, shift = 1 + 0.1 * _rand(4, seed=3), _rand(4, seed=4)
    mean, var = 0.1 * _rand(4, seed=5), 0.5 + _rand(4, seed=6).abs()
    dw, pw = _rand(4, 1, 3, 3, seed=7), _rand(4, 4, 1, 1, seed=8)
    lw = _rand(6, 6, 4, 4, 3, 3, seed=9)     # local conv: [P, Q, K, C, R, S] for 8x8, 3x3
    lrn = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)

    def case(name, baseline, ours, theirs):
        return Case(f"ops.{name}", "op", baseline, lambda: (ours, theirs))

    return [
        case("conv2d", "F.conv2d",
             lambda: ops.conv2d(x, w, b, 1, 1), lambda: F.conv2d(x, w, b, 1, 1)),
        case("conv2d_affine", "F.conv2d * scale + shift, relu",
             lambda: ops.conv2d_affine(x, w, scale, shift, 1, 1, relu=True),
             lambda: torch.relu(F.conv2d(x, w, None, 1, 1) * _channel(scale) + _channel(shift))),
        case("fused_conv_bn_relu", "F.conv2d -> F.batch_norm (eval) -> relu",
             lambda: ops.fused_conv_bn_relu(x, w, b, mean, var, scale, shift, 1, 1),
             lambda: torch.relu(F.batch_norm(F.conv2d(x, w, b, 1, 1), mean, var, scale, shift))),
        case("fold_batch_norm", "the fold formula in aten ops",
             lambda: ops.fold_batch_norm(b, mean, var, scale, shift),
             lambda: _aten_fold(b, mean, var, scale, shift)),
        case("depthwise_conv2d", "F.conv2d(groups=C)",
             lambda: ops.depthwise_conv2d(x, dw, b, 1, 1),
             lambda: F.conv2d(x, dw, b, 1, 1, 1, 4)),
        case("separable_conv2d", "F.conv2d(groups=C) -> F.conv2d 1x1",
             lambda: ops.separable_conv2d(x, dw, pw, padding=1),
             lambda: F.conv2d(F.conv2d(x, dw, None, 1, 1, 1, 4), pw)),
        case("local_conv2d", "F.unfold -> einsum",
             lambda: ops.local_conv2d(x, lw),
             lambda: reference.local_conv.local_conv2d(x, lw, None, (1, 1), (0, 0), (1, 1))),
        case("resize_conv2d", "F.interpolate(nearest) -> F.conv2d",
             lambda: ops.resize_conv2d(x, w, b, 2),
             lambda: F.conv2d(F.interpolate(x, scale_factor=2), w, b, 1, 1)),
        case("resize_conv2d_affine", "F.interpolate(nearest) -> F.conv2d * scale + shift",
             lambda: ops.resize_conv2d_affine(x, w, scale, shift, 2),
             lambda: F.conv2d(F.interpolate(x, scale_factor=2), w, None, 1, 1) * _channel(scale)
             + _channel(shift)),
        case("fold_nearest_weight", "the phase fold in aten ops (uncached)",
             lambda: ops.fold_nearest_weight(w, 2, 1, 1),
             lambda: reference.resize_conv.fold_nearest_weight(w, 2, (1, 1), (1, 1))),
        case("max_pool2d", "F.max_pool2d",
             lambda: ops.max_pool2d(x, 2), lambda: F.max_pool2d(x, 2)),
        case("avg_pool2d", "F.avg_pool2d",
             lambda: ops.avg_pool2d(x, 2), lambda: F.avg_pool2d(x, 2)),
        case("adaptive_avg_pool2d", "F.adaptive_avg_pool2d",
             lambda: ops.adaptive_avg_pool2d(x, 3), lambda: F.adaptive_avg_pool2d(x, 3)),
        case("adaptive_max_pool2d", "F.adaptive_max_pool2d",
             lambda: ops.adaptive_max_pool2d(x, 3), lambda: F.adaptive_max_pool2d(x, 3)),
        case("global_avg_pool2d", "F.adaptive_avg_pool2d(x, 1)",
             lambda: ops.global_avg_pool2d(x), lambda: F.adaptive_avg_pool2d(x, 1)),
        case("max_unpool2d", "F.max_unpool2d",
             lambda: ops.max_unpool2d(pooled, indices, 2),
             lambda: F.max_unpool2d(pooled, indices, 2)),
        case("spatial_pyramid_pool", "F.adaptive_max_pool2d per level -> cat",
             lambda: ops.spatial_pyramid_pool(x, (1, 2, 4)),
             lambda: torch.cat([F.adaptive_max_pool2d(x, n).flatten(1) for n in (1, 2, 4)], 1)),
        case("local_response_norm", "F.local_response_norm",
             lambda: ops.local_response_norm(x, **lrn), lambda: F.local_response_norm(x, **lrn)),
        case("lrn_max_pool2d", "F.local_response_norm -> F.max_pool2d",
             lambda: ops.lrn_max_pool2d(x, **lrn, kernel_size=3, stride=2),
             lambda: F.max_pool2d(F.local_response_norm(x, **lrn), 3, 2)),
    ]


def _aten_fold(bias, mean, var, gamma, beta, eps=1e-5):
    scale = torch.rsqrt(var + eps) * gamma
    return scale, beta + (bias - mean) * scale


# ---- modules --------------------------------------------------------------------------------

class _Composition(torch.nn.Module):
    """A torch baseline for a module torch.nn has no twin of: ``fn(input)`` in aten ops."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.fn(input)


def _conv_bn_relu_torch() -> torch.nn.Sequential:
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU())
    with torch.no_grad():   # non-trivial statistics, so the fold is not the identity
        seq[1].running_mean.uniform_(-0.1, 0.1)
        seq[1].running_var.uniform_(0.5, 1.5)
    return seq.eval()


def _module_cases() -> list[Case]:
    from convkernels import nn, reference

    x = _rand(1, 4, 8, 8)

    def case(name, baseline, make, covers=()):
        def build():
            torch.manual_seed(0)
            ours, theirs = make()
            ours.eval(), theirs.eval()
            return (lambda: ours(x)), (lambda: theirs(x))
        return Case(f"nn.{name}", "module", baseline, build, covers)

    def twin(ours_cls, torch_cls, *args, **kwargs):
        theirs = torch_cls(*args, **kwargs)
        ours = ours_cls(*args, **kwargs)
        ours.load_state_dict(theirs.state_dict())
        return ours, theirs

    def conv_bn_relu():
        theirs = _conv_bn_relu_torch()
        return nn.ConvBNReLU2d.from_modules(*copy.deepcopy(list(theirs))), theirs

    def converted_chain():
        import convkernels
        theirs = _conv_bn_relu_torch()
        return convkernels.convert(copy.deepcopy(theirs))[0], theirs

    def converted_sync_chain():
        # convert() of a SyncBatchNorm model; outside a process group (as here) it computes
        # what the BatchNorm2d chain computes, so that chain is the baseline.
        import convkernels
        theirs = _conv_bn_relu_torch()
        sync = torch.nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(theirs)).eval()
        return convkernels.convert(sync)[0], theirs

    def separable():
        ours = nn.SeparableConv2d(4, 4, 3, padding=1)
        return ours, copy.deepcopy(torch.nn.Sequential(ours.depthwise, ours.pointwise))

    def resize():
        ours = nn.ResizeConv2d(4, 4, 3, scale_factor=2)
        conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        conv.load_state_dict(ours.state_dict())
        return ours, torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), conv)

    def unpool():
        pooled, indices = F.max_pool2d(x, 2, return_indices=True)
        ours, theirs = nn.MaxUnpool2d(2), torch.nn.MaxUnpool2d(2)
        # the case calls module(x); the pooled pair is what an unpool actually takes
        return (_Composition(lambda _: ours(pooled, indices)),
                _Composition(lambda _: theirs(pooled, indices)))

    def lrn_pool():
        lrn, pool = torch.nn.LocalResponseNorm(5, k=2.0), torch.nn.MaxPool2d(3, 2)
        return nn.LRNMaxPool2d(lrn, pool), torch.nn.Sequential(lrn, pool)

    def spp():
        return nn.SpatialPyramidPool2d((1, 2, 4)), _Composition(
            lambda t: torch.cat([F.adaptive_max_pool2d(t, n).flatten(1) for n in (1, 2, 4)], 1))

    def local():
        ours = nn.LocallyConnected2d(4, 4, (8, 8), 3)
        return ours, _Composition(lambda t: reference.local_conv.local_conv2d(
            t, ours.weight, None, (1, 1), (0, 0), (1, 1)) + ours.bias)

    def partial():
        ours = nn.PartialConv2d([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]], 3)
        conv = torch.nn.Conv2d(4, 4, 3)
        with torch.no_grad():
            conv.weight.copy_(ours.dense_weight())
            conv.bias.copy_(ours.bias)
        return ours, conv

    def subsampling():
        ours = nn.Subsampling2d(4)
        return ours, _Composition(lambda t: torch.sigmoid(
            F.avg_pool2d(t, 2, divisor_override=1) * _channel(ours.weight) + _channel(ours.bias)))

    return [
        case("Conv2d", "nn.Conv2d", lambda: twin(nn.Conv2d, torch.nn.Conv2d, 4, 4, 3, padding=1)),
        case("ConvBNReLU2d", "nn.Conv2d -> nn.BatchNorm2d -> nn.ReLU", conv_bn_relu),
        case("FusedConv2d", "nn.Conv2d -> nn.BatchNorm2d -> nn.ReLU (convert() of it)",
             converted_chain, covers=("FusedConv2d", "FoldedBatchNorm2d")),
        case("FusedConv2d(SyncBatchNorm)", "nn.Conv2d -> nn.BatchNorm2d -> nn.ReLU "
             "(convert() of the SyncBatchNorm chain)", converted_sync_chain,
             covers=("FoldedSyncBatchNorm",)),
        case("SeparableConv2d", "nn.Conv2d(groups=C) -> nn.Conv2d 1x1", separable),
        case("ResizeConv2d", "nn.Upsample(nearest) -> nn.Conv2d", resize),
        case("MaxPool2d", "nn.MaxPool2d", lambda: twin(nn.MaxPool2d, torch.nn.MaxPool2d, 2)),
        case("AvgPool2d", "nn.AvgPool2d", lambda: twin(nn.AvgPool2d, torch.nn.AvgPool2d, 2)),
        case("AdaptiveAvgPool2d", "nn.AdaptiveAvgPool2d",
             lambda: twin(nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, 3)),
        case("AdaptiveMaxPool2d", "nn.AdaptiveMaxPool2d",
             lambda: twin(nn.AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d, 3)),
        case("MaxUnpool2d", "nn.MaxUnpool2d", unpool),
        case("SpatialPyramidPool2d", "F.adaptive_max_pool2d per level -> cat", spp),
        case("LocalResponseNorm", "nn.LocalResponseNorm",
             lambda: twin(nn.LocalResponseNorm, torch.nn.LocalResponseNorm, 5, k=2.0)),
        case("LRNMaxPool2d", "nn.LocalResponseNorm -> nn.MaxPool2d", lrn_pool),
        case("LocallyConnected2d", "F.unfold -> einsum + bias", local),
        case("PartialConv2d", "nn.Conv2d with the dense (zero-filled) weight", partial),
        case("Subsampling2d", "F.avg_pool2d(sum) * coefficient + bias -> sigmoid", subsampling),
    ]


# ---- a converted model ----------------------------------------------------------------------

def _model_cases() -> list[Case]:
    def build():
        import torchvision

        import convkernels
        torch.manual_seed(0)
        original = torchvision.models.resnet18(weights=None).eval()
        converted = convkernels.convert(copy.deepcopy(original))[0].eval()
        x = _rand(1, 3, 16, 16)
        return (lambda: converted(x)), (lambda: original(x))
    return [Case("convert(resnet18)", "model", "torchvision resnet18, batch 1, 16x16",
                 build)]


def cases() -> list[Case]:
    """Every case: the public ops, the modules, the converted resnet18."""
    return _op_cases() + _module_cases() + _model_cases()


def uncovered() -> list[str]:
    """Public callables of ``convkernels.ops`` and module classes of ``convkernels.nn`` that no
    case measures (should be empty: a new public op or module needs a case here)."""
    from convkernels import nn, ops
    covered = {f"{c.name.split('.', 1)[0]}.{n}" for c in cases() if c.kind != "model"
               for n in c.covered()}
    public = [f"ops.{n}" for n in ops.__all__ if callable(getattr(ops, n))]
    public += [f"nn.{n}" for n in nn.__all__ if isinstance(getattr(nn, n), type)
               and issubclass(getattr(nn, n), torch.nn.Module)]
    return [n for n in public if n not in covered]


# ---- timing ---------------------------------------------------------------------------------

@dataclass
class Timing:
    median_us: float
    q1_us: float
    q3_us: float

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.q3_us - self.q1_us) / self.median_us if self.median_us else 0.0


def _loop_ns(fn: Callable[[], object], number: int) -> int:
    start = time.thread_time_ns()
    for _ in range(number):
        fn()
    return time.thread_time_ns() - start


def _summary(per_call_us: list[float]) -> Timing:
    q1, median, q3 = statistics.quantiles(per_call_us, n=4, method="inclusive")
    return Timing(median, q1, q3)


def measure_pair(ours: Callable[[], object], theirs: Callable[[], object], repeats: int,
                 repeat_ms: float) -> tuple[Timing, Timing]:
    """Per-call times of both calls: warm-up, then ``repeats`` alternating loops of about
    ``repeat_ms`` each (the loop length is set from the slower of the two)."""
    for fn in (ours, theirs):     # warm-up: caches, first-call dispatch, allocator
        for _ in range(3):
            fn()
    probe_ns = max(_loop_ns(ours, 3), _loop_ns(theirs, 3)) / 3
    number = max(1, int(repeat_ms * 1e6 / max(probe_ns, 1.0)))
    samples: tuple[list[float], list[float]] = ([], [])
    gc_was_enabled = gc.isenabled()
    gc.disable()   # a collection inside one side's loop would be charged to that side only
    try:
        for i in range(repeats):
            order = ((0, ours), (1, theirs)) if i % 2 == 0 else ((1, theirs), (0, ours))
            for side, fn in order:
                samples[side].append(_loop_ns(fn, number) / number / 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return _summary(samples[0]), _summary(samples[1])


def _verdict(kind: str, ours_us: float, torch_us: float) -> tuple[str, bool]:
    if kind == "op":
        return f"<= +{OP_EXTRA_US:g} us", ours_us <= torch_us + OP_EXTRA_US
    limit = MODULE_RATIO if kind == "module" else MODEL_RATIO
    return f"<= {limit:g}x", ours_us <= limit * torch_us


def select_cases(only: Optional[Sequence[str]] = None) -> list[Case]:
    """All cases, or those whose name contains any of ``only`` (case-insensitive)."""
    chosen = cases()
    if only:
        keys = [s.lower() for s in only]
        chosen = [c for c in chosen if any(k in c.name.lower() for k in keys)]
    return chosen


def run(selected: Sequence[Case], repeats: int = 21, repeat_ms: float = 4.0,
        log: Optional[Callable[[str], None]] = None) -> dict:
    """Measure ``selected`` on one CPU thread with autograd off; returns {"meta", "rows"}.
    ``log`` gets each row's table line as soon as it is measured."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        with torch.no_grad():
            for case in selected:
                try:
                    ours, theirs = case.build()
                except ImportError as e:   # torchvision is optional
                    rows.append(dict(name=case.name, kind=case.kind, baseline=case.baseline,
                                     status="SKIP", note=str(e)))
                    if log:
                        log(format_row(rows[-1]))
                    continue
                t_ours, t_torch = measure_pair(ours, theirs, repeats, repeat_ms)
                target, passed = _verdict(case.kind, t_ours.median_us, t_torch.median_us)
                rows.append(dict(
                    name=case.name, kind=case.kind, baseline=case.baseline,
                    ours_us=round(t_ours.median_us, 2), torch_us=round(t_torch.median_us, 2),
                    diff_us=round(t_ours.median_us - t_torch.median_us, 2),
                    ratio=round(t_ours.median_us / t_torch.median_us, 3),
                    spread=round(max(t_ours.spread, t_torch.spread), 3),
                    target=target, status="PASS" if passed else "FAIL"))
                if log:
                    log(format_row(rows[-1]))
    finally:
        torch.set_num_threads(threads)
    meta = dict(torch=torch.__version__, threads=1, grad="off (torch.no_grad)",
                clock="thread CPU time",
                repeats=repeats, repeat_ms=repeat_ms, backend="torch (CPU tensors)")
    return {"meta": meta, "rows": rows}


# ---- rendering ------------------------------------------------------------------------------

COLUMNS = ("case", "ours us", "torch us", "diff us", "ratio", "spread", "target", "result")
_WIDTHS = (30, 9, 9, 9, 6, 7, 11, 6)


def format_row(row: dict) -> str:
    if row["status"] == "SKIP":
        return f"{row['name']:<{_WIDTHS[0]}}  skipped: {row['note']}"
    cells = (row["name"], f"{row['ours_us']:.1f}", f"{row['torch_us']:.1f}",
             f"{row['diff_us']:+.1f}", f"{row['ratio']:.2f}", f"{100 * row['spread']:.0f}%",
             row["target"], row["status"])
    return "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                     for i, (c, w) in enumerate(zip(cells, _WIDTHS, strict=True)))


def render_header() -> str:
    header = "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                       for i, (c, w) in enumerate(zip(COLUMNS, _WIDTHS, strict=True)))
    return header + "\n" + "-" * len(header)


def render_verdict(rows: Sequence[dict]) -> str:
    failed = [r["name"] for r in rows if r["status"] == "FAIL"]
    rows = [r for r in rows if r["status"] != "SKIP"]
    over = (", ".join(failed) if len(failed) <= 6 else f"{len(failed)} cases, the FAIL rows")
    return (f"{len(rows) - len(failed)} of {len(rows)} within target"
            + (f"; over: {over}" if failed else ""))


def render(result: dict) -> str:
    """The table, a line per case, then the count of targets met."""
    rows = result["rows"]
    return "\n".join([render_header(), *map(format_row, rows), "", render_verdict(rows)])
