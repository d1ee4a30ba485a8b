"""Memory-bound CUDA kernels move their data in the vectors their design says, read from the SASS
of the sm_90 build (nvcc and the cuobjdump bundled with Triton; no GPU needed).

The channels_last depthwise strip kernels (csrc/kernels/depthwise/depthwise_nhwc.cu): with
16-byte channel vectors every input, weight, residual and output access is one 128-bit
instruction, and a strip of 4 outputs of a K x K window at horizontal stride s loads, per window
row, each of its (4 - 1) * s + K input columns once and the row's K weight vectors once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_kernels  # noqa: E402

STRIP_RE = re.compile(r"depthwise_nhwc_strip_kernelI(?P<type>6__half|13__nv_bfloat16|f)"
                      r"Li(?P<vec>\d+)ELi(?P<k>\d+)ELi(?P<stride>\d+)E")
STRIP_WIDTH = 4


def _cuobjdump() -> Path:
    triton = pytest.importorskip("triton")
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    if not tool.exists():
        pytest.skip("this Triton install has no bundled cuobjdump")
    return tool


@pytest.fixture(scope="module")
def depthwise_sass(tmp_path_factory) -> dict[str, Counter]:
    """Per kernel: how many of each global load / store instruction its SASS holds."""
    nvcc = check_kernels.find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found")
    cuobjdump = _cuobjdump()
    out = tmp_path_factory.mktemp("sass")
    result = check_kernels.compile_one(
        nvcc, ROOT / "csrc" / "kernels" / "depthwise" / "depthwise_nhwc.cu", "90", out)
    assert result.ok, result.log[-3000:]
    sass = subprocess.run([str(cuobjdump), "-sass", str(out / "depthwise_nhwc.sm90.o")],
                          capture_output=True, text=True, check=True).stdout
    kernels: dict[str, Counter] = {}
    current = None
    for line in sass.splitlines():
        if "Function :" in line:
            current = kernels.setdefault(line.split("Function :")[1].strip(), Counter())
        elif current is not None:
            found = re.search(r"\b(LDG|STG)(\.[A-Z0-9]+)*", line)
            if found:
                current[found.group(0)] += 1
    return kernels


def test_strip_kernels_move_16_byte_vectors_only(depthwise_sass):
    strips = {name: counts for name, counts in depthwise_sass.items() if STRIP_RE.search(name)}
    wide = {name: counts for name, counts in strips.items()
            if STRIP_RE.search(name)["type"] == "f" or STRIP_RE.search(name)["vec"] == "8"}
    assert len(wide) == 3 * 2 * 3, sorted(strips)   # fp32/fp16/bf16 x stride 1/2 x K 3/5/7
    for name, counts in wide.items():
        data = {op: n for op, n in counts.items() if not op.endswith(".CONSTANT")}
        assert set(data) == {"LDG.E.128", "STG.E.128"}, (name, counts)
        assert data["STG.E.128"] == STRIP_WIDTH, (name, counts)


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_strip_kernels_load_each_input_column_once(depthwise_sass, k, stride):
    columns = (STRIP_WIDTH - 1) * stride + k
    expected = k * (columns + k) + STRIP_WIDTH      # per row: columns + weights; residuals
    for name, counts in depthwise_sass.items():
        m = STRIP_RE.search(name)
        if m and int(m["k"]) == k and int(m["stride"]) == stride and m["vec"] == "8":
            assert counts["LDG.E.128"] == expected, (name, counts)
