"""Peak throughput by GPU name: the roofs that the bench and ``models.profile`` judge against.

Peaks are the vendor's dense (no sparsity) datasheet numbers. A GPU not in the table gets
``None`` peaks and every "% of peak" column says so, rather than guessing: variants with the
same chip name differ a lot (H100 PCIe vs SXM, A100 40 GB vs 80 GB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Peaks:
    name: str             # which table entry matched
    fp16_tflops: float    # dense fp16/bf16 tensor-core, fp32 accumulate
    tf32_tflops: float    # dense tf32 tensor-core
    fp32_tflops: float    # non-tensor fp32 (the peak for fp32 with TF32 off)
    hbm_tbps: float       # HBM bandwidth, TB/s


# (predicate on the lower-cased device name, peaks). First match wins.
_TABLE = (
    (lambda n: "h200" in n and "nvl" not in n,
     Peaks("NVIDIA H200 SXM", 989.4, 494.7, 66.9, 4.8)),
    (lambda n: "h100" in n and ("hbm3" in n or "sxm" in n) and "nvl" not in n and "pcie" not in n,
     Peaks("NVIDIA H100 SXM (HBM3)", 989.4, 494.7, 66.9, 3.35)),
    (lambda n: "a100" in n and "sxm" in n and "80gb" in n,
     Peaks("NVIDIA A100 80GB SXM", 312.0, 156.0, 19.5, 2.04)),
)


def peaks_for(gpu_name: Optional[str]) -> Optional[Peaks]:
    if not gpu_name:
        return None
    lowered = gpu_name.lower()
    for matches, peaks in _TABLE:
        if matches(lowered):
            return peaks
    return None


def compute_peak_tflops(peaks: Optional[Peaks], dtype: str, tf32: bool) -> Optional[float]:
    """The roof a conv in ``dtype`` is judged against."""
    if peaks is None:
        return None
    if dtype in ("fp16", "bf16"):
        return peaks.fp16_tflops
    if dtype == "fp32":
        return peaks.tf32_tflops if tf32 else peaks.fp32_tflops
    return None
