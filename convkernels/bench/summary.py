"""Aggregates computed from report rows: geomean speedups per group and the headline targets.

Speedups are paired per layer (same case, both rows "ok") and averaged geometrically, each
distinct layer once — the targets are stated that way. The count-weighted ratio (sum of
count x ms over the layers, i.e. the network's total conv time) is given beside it because
it is what a whole-network run would see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .report import case_key
from .shapes import NETWORKS

OURS = ("cuda", "triton")


def geomean(xs: list[float]) -> Optional[float]:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def group_key(row: dict) -> tuple:
    s = row.get("shape") or {}
    return (row.get("op"), row.get("mode"), row.get("network"), s.get("N"), row.get("dtype"),
            bool(row.get("tf32")), row.get("layout"), row.get("backend"))


@dataclass
class GroupSummary:
    key: tuple                   # group_key
    cases: int                   # distinct layers with a row for this backend
    ok: int                      # of which measured successfully
    vs_cudnn: Optional[float]    # geomean of paired speedups
    n_cudnn: int                 # layers in that geomean
    vs_compile: Optional[float]
    n_compile: int
    weighted_vs_cudnn: Optional[float]   # sum(count*ms cudnn) / sum(count*ms this), paired
    mean_pct_peak: Optional[float]
    compile_modes: tuple         # torch.compile modes of the baseline rows used

    @property
    def label(self) -> dict:
        op, mode, net, n, dtype, tf32, layout, backend = self.key
        dt = dtype + ("+tf32" if tf32 else "") if dtype == "fp32" else dtype
        return dict(op=op, mode=mode, network=net, batch=n, dtype=dt, layout=layout,
                    backend=backend)


def summarize(rows: list[dict]) -> list[GroupSummary]:
    by_case: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        by_case.setdefault(case_key(r), {})[r.get("backend")] = r
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(group_key(r), []).append(r)
    out = []
    for key, members in groups.items():
        vs = {"cudnn": [], "compile": []}
        w_ours = w_base = 0.0
        modes = set()
        pcts = []
        for r in members:
            if r.get("status") != "ok":
                continue
            if r.get("pct_peak") is not None:
                pcts.append(r["pct_peak"])
            peers = by_case.get(case_key(r), {})
            for name in vs:
                b = peers.get(name)
                if b and b.get("status") == "ok" and b.get("median_ms") and r.get("median_ms"):
                    vs[name].append(b["median_ms"] / r["median_ms"])
                    if name == "cudnn":
                        c = r.get("count") or 1
                        w_ours += c * r["median_ms"]
                        w_base += c * b["median_ms"]
                    else:
                        modes.add(b.get("compile_mode") or "?")
        out.append(GroupSummary(
            key, len(members), sum(r.get("status") == "ok" for r in members),
            geomean(vs["cudnn"]), len(vs["cudnn"]), geomean(vs["compile"]), len(vs["compile"]),
            (w_base / w_ours) if w_ours else None,
            (sum(pcts) / len(pcts)) if pcts else None, tuple(sorted(modes))))
    order = {"cuda": 0, "triton": 1, "cudnn": 2, "compile": 3}
    out.sort(key=lambda g: tuple("" if v is None else str(v) for v in g.key[:7])
             + (order.get(g.key[7], 9),))
    return out


# ---- the headline targets ------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    text: str
    select: dict          # group_key fields (without backend)
    baseline: str         # "cudnn" | "compile"
    goal: float
    stretch: Optional[float] = None


TARGETS = (
    Target("fused_conv_bn_relu eval, fp16, channels_last, ResNet-50, batch 64: vs eager "
           "conv->BN->ReLU (cuDNN)",
           dict(op="fused_conv_bn_relu", mode="eval", network="resnet50", N=64, dtype="fp16",
                tf32=False, layout="channels_last"), "cudnn", 1.3),
    Target("fused_conv_bn_relu eval, fp16, channels_last, ResNet-50, batch 64: vs "
           "torch.compile of the same",
           dict(op="fused_conv_bn_relu", mode="eval", network="resnet50", N=64, dtype="fp16",
                tf32=False, layout="channels_last"), "compile", 1.0),
    Target("conv2d direct, fp16, channels_last, ResNet-50, batch 64: vs cuDNN",
           dict(op="conv2d", mode="eval", network="resnet50", N=64, dtype="fp16", tf32=False,
                layout="channels_last"), "cudnn", 0.8, 1.0),
    Target("conv2d direct, fp32 (TF32 off), channels_last, ResNet-50, batch 64: vs cuDNN",
           dict(op="conv2d", mode="eval", network="resnet50", N=64, dtype="fp32", tf32=False,
                layout="channels_last"), "cudnn", 1.0),
    Target("conv2d direct, fp32 (TF32 off), NCHW, ResNet-50, batch 64: vs cuDNN",
           dict(op="conv2d", mode="eval", network="resnet50", N=64, dtype="fp32", tf32=False,
                layout="nchw"), "cudnn", 1.0),
)


@dataclass
class TargetResult:
    target: Target
    backend: str
    value: Optional[float]
    layers: int
    expected: int
    verdict: str
    compile_modes: tuple = ()


def evaluate_targets(rows: list[dict], summaries: Optional[list[GroupSummary]] = None
                     ) -> list[TargetResult]:
    summaries = summaries if summaries is not None else summarize(rows)
    index = {g.key: g for g in summaries}
    results = []
    for t in TARGETS:
        s = t.select
        expected = len(NETWORKS[s["network"]])
        for backend in OURS:
            g = index.get((s["op"], s["mode"], s["network"], s["N"], s["dtype"], s["tf32"],
                           s["layout"], backend))
            value = n = None
            if g is not None:
                value, n = ((g.vs_cudnn, g.n_cudnn) if t.baseline == "cudnn"
                            else (g.vs_compile, g.n_compile))
            n = n or 0
            if value is None:
                verdict = "not measured"
            elif n < expected:
                verdict = f"incomplete ({n}/{expected} layers)"
            elif value >= t.goal:
                verdict = "met" + (" (stretch met)" if t.stretch and value >= t.stretch else "")
            else:
                verdict = "not met"
            results.append(TargetResult(t, backend, value, n, expected, verdict,
                                        g.compile_modes if g and t.baseline == "compile" else ()))
    return results
