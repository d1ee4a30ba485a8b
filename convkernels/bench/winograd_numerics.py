"""Numerics report of the Winograd convolutions: error vs a float64 reference, next to
PyTorch's own error in the same dtype, on the real VGG-16 / ResNet-50 3x3 layers.

Runs anywhere (CPU included) on the reference algorithm, whose rounding points are the
kernels' (see :mod:`convkernels.reference.winograd`); on a GPU pass ``backend="cuda"`` or
``"triton"`` to measure the kernels themselves. Errors are normalized by the reference's
magnitude so layers compare: ``max_rel = max|y - ref| / max|ref|`` and
``mean_rel = mean|y - ref| / mean|ref|``.

    python -m convkernels.bench.winograd_numerics            # table on stdout
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import torch
import torch.nn.functional as F

from ..reference import winograd as ref_winograd
from .shapes import NETWORKS, ConvShape

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def winograd_layers() -> list[ConvShape]:
    """Every distinct 3x3 stride-1 layer of VGG-16 and ResNet-50 (Winograd's domain)."""
    return [s for net in ("vgg16", "resnet50") for s in NETWORKS[net]
            if (s.R, s.S, s.stride, s.dilation, s.groups) == (3, 3, 1, 1, 1)]


@dataclass(frozen=True)
class ErrorRow:
    layer: str
    dtype: str
    algo: str        # "winograd_2x2", "winograd_4x4", or "torch" (PyTorch's own conv)
    points: str      # the point set ("" for torch)
    max_rel: float
    mean_rel: float


def relative_errors(out: torch.Tensor, ref64: torch.Tensor) -> tuple[float, float]:
    err = (out.double() - ref64).abs()
    mag = ref64.abs()
    return (err.max() / mag.max()).item(), (err.mean() / mag.mean()).item()


def layer_tensors(shape: ConvShape, dtype: torch.dtype, *, batch: int = 1,
                  spatial: Optional[int] = None, k_limit: Optional[int] = None,
                  device="cpu", seed: int = 0):
    """Input and weight as a trained net sees them: x ~ relu(N(0,1)) (post-ReLU activations),
    w ~ N(0, 2 / (9 C)) (He init), rounded to ``dtype``. ``spatial`` crops H, W and
    ``k_limit`` the output channels to bound CPU time: the per-output error depends on the
    reduction (C x 3 x 3) and the transforms, not on how many outputs there are."""
    g = torch.Generator().manual_seed(seed)
    H = min(shape.H, spatial) if spatial else shape.H
    W = min(shape.W, spatial) if spatial else shape.W
    K = min(shape.K, k_limit) if k_limit else shape.K
    x = torch.randn(batch, shape.C, H, W, generator=g, dtype=torch.float64).relu()
    w = torch.randn(K, shape.C, 3, 3, generator=g, dtype=torch.float64) * (2 / (9 * shape.C)) ** 0.5
    return x.to(device, dtype), w.to(device, dtype)


def measure(shape: ConvShape, dtype_name: str, *, tiles=(2, 4), point_sets=None,
            backend: str = "torch", **tensor_kw) -> list[ErrorRow]:
    """Rows for one layer and dtype: PyTorch's own error, then each tile / point set."""
    from .. import ops  # late: ops imports the backends

    dtype = DTYPES[dtype_name]
    x, w = layer_tensors(shape, dtype, **tensor_kw)
    pad = (shape.padding, shape.padding)
    ref = F.conv2d(x.double(), w.double(), padding=pad)
    rows = [ErrorRow(shape.name, dtype_name, "torch", "",
                     *relative_errors(F.conv2d(x, w, padding=pad), ref))]
    for m in tiles:
        algo = f"winograd_{m}x{m}"
        sets = (point_sets or {}).get(m, [ref_winograd.DEFAULT_POINTS[m]])
        for pts in sets:
            if backend == "torch" or pts != ref_winograd.DEFAULT_POINTS[m]:
                u = ref_winograd.filter_transform(w, m, pts)
                y = ref_winograd.winograd_conv2d(x, u, None, None, None, pad, m, False, pts)
            else:
                y = ops.conv2d(x, w, padding=pad, algo=algo, backend=backend)
            rows.append(ErrorRow(shape.name, dtype_name, algo, pts, *relative_errors(y, ref)))
    return rows


def report(layers: Iterable[ConvShape] = (), dtypes=("fp32", "fp16", "bf16"),
           **kw) -> list[ErrorRow]:
    rows = []
    for shape in list(layers) or winograd_layers():
        for dt in dtypes:
            rows += measure(shape, dt, **kw)
    return rows


def format_rows(rows: list[ErrorRow]) -> str:
    lines = [f"{'layer':<22} {'dtype':<5} {'algo':<13} {'points':<13} {'max_rel':>9} "
             f"{'mean_rel':>9}"]
    for r in rows:
        lines.append(f"{r.layer:<22} {r.dtype:<5} {r.algo:<13} {r.points:<13} "
                     f"{r.max_rel:9.2e} {r.mean_rel:9.2e}")
    return "\n".join(lines)


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spatial", type=int, default=None, help="crop H and W (CPU time)")
    ap.add_argument("--k-limit", type=int, default=None, help="crop output channels")
    ap.add_argument("--both-points", action="store_true",
                    help="also measure F(4x4) with the standard (0, +-1, +-2) points")
    ap.add_argument("--backend", default="torch")
    args = ap.parse_args()
    sets = {4: ["half_4x4", "standard_4x4"]} if args.both_points else None
    device = "cuda" if args.backend in ("cuda", "triton") else "cpu"
    rows = report(point_sets=sets, backend=args.backend, spatial=args.spatial,
                  k_limit=args.k_limit, device=device)
    print(format_rows(rows))


if __name__ == "__main__":
    main()
