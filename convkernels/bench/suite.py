"""The benchmark cases, in the order they should run.

The whole matrix (2 ops x 2 networks x batch 64/32 x fp16/fp32 x channels_last/NCHW, plus a
TF32-on set and a training subset) does not fit one 10-minute GPU command once
torch.compile's autotuning is counted, so cases carry a priority: the configurations the
headline targets name run first, and a suite-wide time budget turns whatever is left into
"skipped: time budget" rows (visible in the report, never silently dropped). The rest of
the matrix can then be run by a second command selecting it (``-m "not headline"`` or the
CLI's filters); its rows merge into the same report.

torch.compile is measured at batch 64 in channels_last (the layout the targets name) and in
the training subset; with ``max-autotune-no-cudagraphs`` on the headline (ResNet-50 fp16)
cases as long as its own autotuning budget lasts, ``default`` mode elsewhere. Every compile
row records the mode it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from .shapes import NETWORKS, ConvShape

OPS = ("conv2d", "fused_conv_bn_relu")
DTYPES = ("fp16", "fp32")
LAYOUTS = ("channels_last", "nchw")
BATCHES = (64, 32)
MAX_AUTOTUNE = "max-autotune-no-cudagraphs"


@dataclass(frozen=True)
class Case:
    op: str
    mode: str              # eval | train
    shape: ConvShape
    N: int
    dtype: str             # fp16 | fp32
    tf32: bool
    layout: str            # channels_last | nchw
    compile_mode: str      # requested torch.compile mode; "" = compile baseline not measured
    priority: int

    @property
    def id(self) -> str:
        dt = self.dtype + ("+tf32" if self.tf32 else "")
        return (f"{self.op}-{self.mode}-{self.shape.network}-{self.shape.name}-b{self.N}-{dt}-"
                f"{self.layout}")

    @property
    def marks(self) -> tuple[str, ...]:
        """pytest marker names (registered in bench/conftest.py)."""
        m = ["fused" if self.op == "fused_conv_bn_relu" else "conv2d", self.shape.network,
             self.dtype, self.layout, "train" if self.mode == "train" else "eval"]
        if self.tf32:
            m.append("tf32")
        if self.priority <= 2:
            m.append("headline")
        return tuple(m)


def _priority(op: str, mode: str, net: str, N: int, dtype: str, tf32: bool, layout: str) -> int:
    """0 runs first. The first tiers are exactly the headline target configurations."""
    r50, cl = net == "resnet50", layout == "channels_last"
    if N == 64 and r50 and cl and dtype == "fp16" and mode == "eval":
        return 0 if op == "fused_conv_bn_relu" else 1
    if N == 64 and r50 and op == "conv2d" and dtype == "fp32" and not tf32:
        return 2
    if N == 64 and cl and dtype == "fp16" and mode == "eval":
        return 3                                   # VGG-16 at the headline config
    if mode == "train":
        return 4
    if N == 64 and tf32:
        return 5
    if N == 64:
        return 6
    return 7


def _compile_mode(priority: int, N: int, layout: str, mode: str) -> str:
    if priority <= 1:
        return MAX_AUTOTUNE
    if mode == "train" or (N == 64 and layout == "channels_last"):
        return "default"
    return ""


def build_cases(ops: Sequence[str] = OPS, networks: Sequence[str] = tuple(NETWORKS),
                batches: Sequence[int] = BATCHES, dtypes: Sequence[str] = DTYPES,
                layouts: Sequence[str] = LAYOUTS, tf32_set: bool = True, train: bool = True,
                quick: bool = False) -> list[Case]:
    """All cases of the selection, sorted by priority (stable within a tier: op, network,
    layer order). ``quick``: the ResNet-50 headline configuration only, compile in default mode
    (minutes of autotuning are not quick)."""
    if quick:
        networks, batches, dtypes, layouts = ("resnet50",), (64,), ("fp16",), ("channels_last",)
        tf32_set = train = False
    configs = []   # (op, mode, dtype, tf32, layout, N, net)
    for op in ops:
        for net in networks:
            for N in batches:
                for dtype in dtypes:
                    for layout in layouts:
                        configs.append((op, "eval", dtype, False, layout, N, net))
    if tf32_set and "conv2d" in ops and "fp32" in dtypes:
        for net in networks:
            if net == "resnet50" and 64 in batches and "channels_last" in layouts:
                configs.append(("conv2d", "eval", "fp32", True, "channels_last", 64, net))
    if train and "fused_conv_bn_relu" in ops and "fp16" in dtypes:
        if "resnet50" in networks and 64 in batches and "channels_last" in layouts:
            configs.append(("fused_conv_bn_relu", "train", "fp16", False, "channels_last", 64,
                            "resnet50"))
    cases = []
    for op, mode, dtype, tf32, layout, N, net in configs:
        pr = _priority(op, mode, net, N, dtype, tf32, layout)
        cm = "default" if quick else _compile_mode(pr, N, layout, mode)
        for shape in NETWORKS[net]:
            cases.append(Case(op, mode, shape, N, dtype, tf32, layout, cm, pr))
    cases.sort(key=lambda c: c.priority)
    return cases


def select(cases: Iterable[Case], substrings: Optional[Sequence[str]] = None) -> list[Case]:
    """Keep cases whose id contains every given substring (the CLI's --only)."""
    subs = list(substrings or [])
    return [c for c in cases if all(s in c.id for s in subs)]
