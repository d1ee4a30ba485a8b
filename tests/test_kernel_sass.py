"""Memory-bound CUDA kernels move their data in the vectors their design says, read from the SASS
of the sm_90 build (nvcc and the cuobjdump bundled with Triton; no GPU needed); and the fp32
tensor-core kernels (direct conv, resize-conv, Winograd) issue three TF32 mma per product in
their 3xTF32 ("tf32x3") policy, without spilling.

The channels_last max-pool kernels (csrc/kernels/pool/max_pool.cu) move their int64 indices in
16-byte pairs beside the value vectors.

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

from harness import cuobjdump_or_skip

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_kernels  # noqa: E402

STRIP_RE = re.compile(r"depthwise_nhwc_strip_kernelI(?P<type>6__half|13__nv_bfloat16|f)"
                      r"Li(?P<vec>\d+)ELi(?P<k>\d+)ELi(?P<stride>\d+)E")
STRIP_WIDTH = 4


def _sm90_sass(tmp_path_factory, source: str) -> tuple[str, check_kernels.CompileResult]:
    """The SASS of csrc/kernels/<source> compiled for sm_90 as the extension build does, and
    the compile result (ptxas' per-kernel report)."""
    nvcc = check_kernels.find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found")
    cuobjdump = cuobjdump_or_skip()
    out = tmp_path_factory.mktemp("sass")
    path = ROOT / "csrc" / "kernels" / source
    result = check_kernels.compile_one(nvcc, path, "90", out)
    assert result.ok, result.log[-3000:]
    sass = subprocess.run([str(cuobjdump), "-sass", str(out / f"{path.stem}.sm90.o")],
                          capture_output=True, text=True, check=True).stdout
    return sass, result


def _global_accesses(sass: str) -> dict[str, Counter]:
    """Per kernel: how many of each global load / store instruction its SASS holds."""
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


@pytest.fixture(scope="module")
def depthwise_sass(tmp_path_factory) -> dict[str, Counter]:
    sass, _ = _sm90_sass(tmp_path_factory, "depthwise/depthwise_nhwc.cu")
    return _global_accesses(sass)


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


# ---- 3xTF32 ("tf32x3") in the tensor-core conv tile body (csrc/kernels/conv/implicit_gemm_tc.cuh),
# which the direct conv and resize-conv's nearest and bilinear kernels share ----------------------

TC_SOURCES = {"conv2d_implicit_gemm_tc_kernel": "conv/implicit_gemm_tc.cu",
              "resize_nearest_tc_kernel": "resize_conv/nearest_tc.cu",
              "resize_bilinear_tc_kernel": "resize_conv/bilinear_tc.cu"}
TC_RE = re.compile(r"(?P<kernel>" + "|".join(TC_SOURCES) + r")If\w*?TcTileConfigILi(?P<bm>\d+)"
                   r"ELi(?P<bn>\d+)E.*?NS\d?_(?P<policy>18TcElementFp32Split|9TcElementIfEE)")
TF32_MMA = "HMMA.1688.F32.TF32"


def _tf32_opcode_counts(sass: str, key_of) -> dict:
    """Per kernel whose "Function :" line key_of maps to a key (None: skipped): how many TF32
    mma and FADD its SASS holds."""
    kernels: dict = {}
    current = None
    for line in sass.splitlines():
        if "Function :" in line:
            key = key_of(line)
            current = None if key is None else kernels.setdefault(key, Counter())
        elif current is not None:
            found = re.search(r"\b(HMMA\.1688\.F32\.TF32|FADD)\b", line)
            if found:
                current[found.group(1)] += 1
    return kernels


def _tc_key(line: str):
    m = TC_RE.search(line)
    return None if m is None else (m["kernel"], int(m["bm"]), int(m["bn"]),
                                   m["policy"].endswith("Split"))


@pytest.fixture(scope="module")
def tc_fp32_sass(tmp_path_factory) -> dict[tuple[str, int, int, bool], Counter]:
    """Per kernel, fp32 tile (BM, BN) and policy (split or not): opcode counts of the sm_90
    SASS."""
    kernels = {}
    for source in TC_SOURCES.values():
        sass, result = _sm90_sass(tmp_path_factory, source)
        split_spills = [k for k in result.kernels if "TcElementFp32Split" in k.mangled and k.spills]
        assert not split_spills, split_spills
        kernels.update(_tf32_opcode_counts(sass, _tc_key))
    return kernels


@pytest.mark.parametrize("kernel", list(TC_SOURCES))
@pytest.mark.parametrize("bm,bn", [(128, 128), (128, 64), (64, 64)])
def test_tf32x3_issues_three_tf32_mma_per_tf32_one(tc_fp32_sass, kernel, bm, bn):
    plain, split = tc_fp32_sass[(kernel, bm, bn, False)], tc_fp32_sass[(kernel, bm, bn, True)]
    # one k-tile (2 k-steps of 8) of a 2x2 grid of warps, each (BM/2 x BN/2) in m16n8 tiles
    per_tile = 2 * (bm // 32) * (bn // 16)
    assert plain[TF32_MMA] == per_tile and split[TF32_MMA] == 3 * per_tile, (plain, split)
    # The split (x - hi) is done once per fragment register and k-step, not once per mma.
    fragment_registers = 2 * ((bm // 32) * 4 + (bn // 16) * 2)
    assert split["FADD"] - plain["FADD"] <= fragment_registers, (plain, split)


# ---- 3xTF32 in the fused Winograd kernel (csrc/kernels/winograd/winograd_fused.cu) ---------------

# winograd_fused_kernel<float, M, PointMath>: PointMath's kTf32 = 2, kTf32x3 = 3.
WINOGRAD_RE = re.compile(r"winograd_fused_kernelIfLi(?P<m>\d)ELNS0_9PointMathE(?P<math>[23])EE")
WINOGRAD_MATH = {"2": "tf32", "3": "tf32x3"}


@pytest.fixture(scope="module")
def winograd_fp32_sass(tmp_path_factory) -> dict[tuple[int, str], Counter]:
    """Per tile m (2, 4) and fp32 tensor-core math: opcode counts of the sm_90 SASS."""
    sass, result = _sm90_sass(tmp_path_factory, "winograd/winograd_fused.cu")
    spilling = [(k.mangled, k.spills) for k in result.kernels if k.spills]
    assert not spilling, spilling

    def key_of(line):
        m = WINOGRAD_RE.search(line)
        return None if m is None else (int(m["m"]), WINOGRAD_MATH[m["math"]])

    return _tf32_opcode_counts(sass, key_of)


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_tf32x3_issues_three_tf32_mma_per_tf32_one(winograd_fp32_sass, m):
    plain, split = winograd_fp32_sass[(m, "tf32")], winograd_fp32_sass[(m, "tf32x3")]
    # one C slice (one k-step of 8): one m16n8k8 per transform point a warp owns (F(2x2): all
    # 16; F(4x4): 18 of 36, the other point group has the rest)
    points = 16 if m == 2 else 18
    assert plain[TF32_MMA] == points and split[TF32_MMA] == 3 * points, (plain, split)
    # The split (x - hi) is done once per fragment register (A: 4, B: 2) and point, not per mma.
    assert split["FADD"] - plain["FADD"] <= 6 * points, (plain, split)


# ---- max-pool with indices (csrc/kernels/pool/max_pool.cu) ------------------------------------

# max_pool_{fwd,bwd}_kernel<T, V, ...> with V > 1: the 16-byte channel-vector path.
MAX_POOL_VECTOR_RE = re.compile(r"max_pool_(?P<direction>fwd|bwd)_kernelI"
                                r"(?:6__half|13__nv_bfloat16|f)Li(?P<vec>[48])E")


@pytest.fixture(scope="module")
def max_pool_sass(tmp_path_factory) -> dict[str, Counter]:
    sass, _ = _sm90_sass(tmp_path_factory, "pool/max_pool.cu")
    return _global_accesses(sass)


def test_max_pool_vector_path_moves_values_and_indices_in_16_byte_vectors(max_pool_sass):
    """Values and int64 indices (IndexVec: pairs per 16 bytes) of a channel vector: the forward
    stores 1 + V/2 vectors, the backward loads 1 + V/2 per window tap; nothing narrower."""
    vector = {name: counts for name, counts in max_pool_sass.items()
              if MAX_POOL_VECTOR_RE.search(name)}
    # {fwd, bwd} x {fp32 (V=4), fp16, bf16 (V=8)} x {32, 64-bit index} x {fixed, adaptive}
    assert len(vector) == 24, sorted(max_pool_sass)
    for name, counts in vector.items():
        found = MAX_POOL_VECTOR_RE.search(name)
        per_vector = 1 + int(found["vec"]) // 2
        assert all(".128" in op for op in counts), (name, counts)
        if found["direction"] == "fwd":
            assert counts["STG.E.128"] == per_vector, (name, counts)
        else:
            assert counts["STG.E.128"] == 1, (name, counts)
            loads = counts["LDG.E.128.CONSTANT"]
            assert loads > 0 and loads % per_vector == 0, (name, counts)
