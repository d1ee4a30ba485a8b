"""A roofline plot of a bench report: achieved TFLOP/s against arithmetic intensity.

Byte model (the x axis): each row's intensity is FLOPs / compulsory DRAM bytes, where

* FLOPs = 2*N*K*P*Q*C*R*S/groups (the runner's count, ``ConvShape.flops``);
* bytes = (N*C*H*W input + K*(C/groups)*R*S weight + N*K*P*Q output [+ N*K*P*Q residual when
  the row says ``residual: true``; no benchmarked op reads one today]) * dtype size (fp16/bf16 2,
  fp32 4), each tensor moved exactly once (``ConvShape.min_bytes``).

BN scale/shift and bias vectors are per-channel and left out. Train rows run three passes
(forward, dgrad, wgrad); each reads two of input/weight/output-sized tensors and writes the
third, so FLOPs and bytes both triple and the intensity equals the forward one. A row without
a usable shape falls back to tflops*1e3/gbps (the runner's own FLOPs / bytes), if it has gbps.
This is a lower bound on traffic: a point right of where the kernel really sits means L2
misses or re-reads that the model does not see.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}
# Fixed per backend so two plots of different reports compare at a glance.
STYLE = {"cuda": ("o", "tab:blue"), "triton": ("s", "tab:orange"),
         "cudnn": ("^", "tab:green"), "compile": ("D", "tab:red")}
# (label, key in meta["peaks"], linestyle) for the compute roof of each precision.
ROOFS = {"fp16": ("fp16/bf16 tensor", "fp16_tflops", "-"), "tf32": ("tf32 tensor", "tf32_tflops",
         "--"), "fp32": ("fp32 (no tensor core)", "fp32_tflops", ":")}


def _out_size(n: int, pad: int, dil: int, k: int, stride: int) -> int:
    return (n + 2 * pad - dil * (k - 1) - 1) // stride + 1


def intensity(row: dict) -> Optional[float]:
    """FLOPs per byte of compulsory DRAM traffic for one row (byte model: module docstring)."""
    s, size = row.get("shape") or {}, DTYPE_BYTES.get(row.get("dtype"))
    try:
        N, C, H, W, K, R, S = (int(s[k]) for k in ("N", "C", "H", "W", "K", "R", "S"))
        st, pad, dil, g = (int(s.get(k) or d) for k, d in
                           (("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1)))
    except (KeyError, TypeError, ValueError):
        s = None
    if s is None or size is None:   # no shape: the runner's FLOPs and bytes, if it kept both
        tf, gb = row.get("tflops"), row.get("gbps")
        return tf * 1e3 / gb if tf and gb else None
    P, Q = _out_size(H, pad, dil, R, st), _out_size(W, pad, dil, S, st)
    flops = 2 * N * K * P * Q * C * R * S // g
    elems = N * C * H * W + K * (C // g) * R * S + N * K * P * Q * (2 if row.get("residual") else 1)
    return flops / (elems * size)


def precision(row: dict) -> str:
    """Which compute roof a row is judged against (the rule of _peaks.compute_peak_tflops)."""
    if row.get("dtype") == "fp32":
        return "tf32" if row.get("tf32") else "fp32"
    return "fp16"


def matplotlib_missing() -> Optional[str]:
    """Why a plot cannot be drawn here (matplotlib not importable), or None if it can."""
    try:
        import matplotlib  # noqa: F401
    except Exception as e:   # an optional dependency (the `bench` extra)
        return f"matplotlib is not importable ({type(e).__name__}: {e}); pip install matplotlib"
    return None


def plot_roofline(report: dict, path: os.PathLike) -> Optional[Path]:
    """Draw the report's ok rows on the device's roofline into ``path`` (PNG). Returns the path,
    or None when matplotlib is missing (``matplotlib_missing()`` says why)."""
    if matplotlib_missing():
        return None
    # Figure + the Agg canvas directly, not pyplot: no global backend switch, no GUI, no
    # figure left registered in a long-lived process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    meta = report.get("meta") or {}
    peaks = meta.get("peaks") or None
    pts = [(intensity(r), r["tflops"], r) for r in report.get("rows", [])
           if r.get("status") == "ok" and r.get("tflops")]
    pts = [p for p in pts if p[0]]
    fig = Figure(figsize=(11, 6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")

    order = list(STYLE)
    backends = sorted({r.get("backend") for _, _, r in pts},
                      key=lambda b: (order.index(b) if b in order else len(order), str(b)))
    for b in backends:
        mk, col = STYLE.get(b, ("x", "tab:gray"))
        label = b   # one legend entry per backend, on whichever mode is drawn first
        for train in (False, True):   # hollow markers = training rows
            xy = [(x, y) for x, y, r in pts
                  if r.get("backend") == b and (r.get("mode") == "train") == train]
            if xy:
                ax.scatter(*zip(*xy), marker=mk, facecolors="none" if train else col,
                           edgecolors=col, s=36, alpha=0.85, label=label)
                label = None

    xs = [x for x, _, _ in pts] or [1.0, 1000.0]
    ys = [y for _, y, _ in pts] or [1.0]
    bw = peaks.get("hbm_tbps") if peaks else None   # TB/s * FLOP/B = TFLOP/s
    used = sorted({precision(r) for _, _, r in pts} or ({"fp16"} if peaks else set()),
                  key=list(ROOFS).index)
    roofs = [(p, peaks.get(ROOFS[p][1])) for p in used if peaks and peaks.get(ROOFS[p][1])]
    ridges = [t / bw for _, t in roofs] if bw else []
    lo, hi = min(xs + ridges) / 3, max(xs + ridges) * 3
    for p, t in roofs:
        start = t / bw if bw else lo
        ax.plot([start, hi], [t, t], "k", ls=ROOFS[p][2], lw=1.2,
                label=f"{ROOFS[p][0]} roof {t:g} TFLOP/s")
    if bw:
        top = max([t for _, t in roofs] or [max(ys)])
        ax.plot([lo, top / bw], [bw * lo, top], color="0.35", lw=1.2,
                label=f"HBM roof {bw:g} TB/s")
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(ys) / 4, max(ys + [t for _, t in roofs]) * 2)   # roofs clip, points don't

    ax.set_xlabel("arithmetic intensity (FLOP / byte of compulsory DRAM traffic)")
    ax.set_ylabel("achieved TFLOP/s")
    commit = (meta.get("git_commit") or "unknown")[:10] + ("-dirty" if meta.get("git_dirty")
                                                           else "")
    title = f"convkernels roofline: {meta.get('gpu_name') or 'unknown GPU'}, commit {commit}"
    if not peaks:
        title += "\nGPU not in the peak table: points only, no roofs"
    if not pts:
        title += "\nno ok rows to plot"
    ax.set_title(title, fontsize=10)
    # Plain numbers, majors plus the 2x and 5x minors: "3x10^1" style labels are hard to read.
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    some = FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(some)
    ax.grid(True, which="both", alpha=0.25)
    handles, _ = ax.get_legend_handles_labels()
    if any(r.get("mode") == "train" for _, _, r in pts):
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="k",
                              label="hollow: train (fwd+bwd)"))
    if handles:
        # Outside the axes, so it never hides a point or a roof.
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
