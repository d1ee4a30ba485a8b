"""The sm_90a CUTLASS conv (csrc/kernels/conv/sm90) compiles to what its design says, read from
SASS (nvcc and the cuobjdump bundled with Triton; no GPU needed): the math is wgmma (HGMMA,
64x128x16 per warpgroup instruction, 8 per 64-deep k-block of the 128x128 tile), the activation
arrives by TMA im2col loads and the filter by tiled TMA loads, the output leaves by TMA stores,
and nothing spills to local memory. Also: its host-side setup (csrc/tests/test_conv_sm90_setup.cpp,
checked against CUTLASS's own ConvProblemShape when the headers are installed) and the build's
handling of the CUTLASS headers (setup.py).

Never run on a GPU: numerics and speed of this kernel are unverified.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness import cuobjdump_or_skip

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_kernels  # noqa: E402

SM90_SOURCES = {"fp16": "conv_sm90_f16.cu", "bf16": "conv_sm90_bf16.cu"}
OPCODE_RE = re.compile(r"\b(HGMMA|UTMALDG|UTMASTG|LDL|STL)(\.[A-Za-z0-9_]+)*")


def _cutlass_or_skip() -> None:
    _, _, missing = check_kernels.cutlass_headers()
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="module")
def sm90_build(tmp_path_factory) -> dict[str, tuple[Counter, check_kernels.CompileResult, int]]:
    """Per dtype: opcode counts of the sm_90a SASS, the ptxas report, the number of kernels."""
    _cutlass_or_skip()
    nvcc = check_kernels.find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found")
    cuobjdump = cuobjdump_or_skip()
    out = tmp_path_factory.mktemp("sass_sm90")
    sources = {k: check_kernels.SM90_DIR / v for k, v in SM90_SOURCES.items()}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(sources)) as pool:
        results = dict(zip(sources, pool.map(
            lambda src: check_kernels.compile_one(nvcc, src, check_kernels.SM90_ARCH, out),
            sources.values())))
    built = {}
    for dtype, result in results.items():
        assert result.ok, result.log[-3000:]
        obj = out / f"{sources[dtype].stem}.sm{check_kernels.SM90_ARCH}.o"
        sass = subprocess.run([str(cuobjdump), "-sass", str(obj)], capture_output=True, text=True,
                              check=True).stdout
        counts: Counter = Counter(m.group(0) for m in OPCODE_RE.finditer(sass))
        built[dtype] = (counts, result, sass.count("Function :"))
    return built


def _total(counts: Counter, prefix: str, *, having: str = "", lacking: str = "") -> int:
    return sum(n for op, n in counts.items() if op.startswith(prefix)
               and (not having or having in op) and (not lacking or lacking not in op))


@pytest.mark.parametrize("dtype", sorted(SM90_SOURCES))
def test_sm90_conv_is_one_kernel_per_dtype_without_spills(sm90_build, dtype):
    counts, result, functions = sm90_build[dtype]
    assert functions == 1 and len(result.kernels) == 1, (functions, result.kernels)
    kernel = result.kernels[0]
    assert kernel.arch == "90a", kernel
    assert kernel.spills == 0 and kernel.stack_bytes == 0, kernel
    assert _total(counts, "LDL") == 0 and _total(counts, "STL") == 0, counts
    # A call inside the wgmma pipeline would serialize it (ptxas warning C7510).
    assert "C7510" not in result.log, result.log[-2000:]


@pytest.mark.parametrize("dtype", sorted(SM90_SOURCES))
def test_sm90_conv_runs_on_wgmma(sm90_build, dtype):
    counts, _, _ = sm90_build[dtype]
    hgmma = {op: n for op, n in counts.items() if op.startswith("HGMMA")}
    assert hgmma, counts
    # 128x128 tile, one consumer warpgroup: 2 (M halves) x 4 (k-steps of 16) per k-block of 64.
    assert all(op.startswith("HGMMA.64x128x16.F32") for op in hgmma), hgmma
    assert sum(hgmma.values()) % 8 == 0, hgmma
    is_bf16 = [op.endswith(".BF16") for op in hgmma]
    assert all(is_bf16) if dtype == "bf16" else not any(is_bf16), hgmma
    # No mma.sync fallback inside this kernel.
    assert _total(counts, "HMMA") == 0, counts


@pytest.mark.parametrize("dtype", sorted(SM90_SOURCES))
def test_sm90_conv_moves_data_by_tma(sm90_build, dtype):
    counts, _, _ = sm90_build[dtype]
    assert _total(counts, "UTMALDG", having="IM2COL") > 0, counts     # activation (im2col)
    assert _total(counts, "UTMALDG", lacking="IM2COL") > 0, counts    # filter (tiled)
    assert _total(counts, "UTMASTG") > 0, counts                      # output


def test_sm90_host_setup(tmp_path):
    """Build and run the host test of the Conv2dParams -> CUTLASS mapping and the predicate."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no host C++ compiler")
    exe = tmp_path / "test_conv_sm90_setup"
    source = ROOT / "csrc" / "tests" / "test_conv_sm90_setup.cpp"
    build = subprocess.run([cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-x", "c++",
                            f"-I{check_kernels.KERNEL_DIR}", *check_kernels.host_test_includes(),
                            str(source), "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout
    if not check_kernels.cutlass_headers()[2]:
        assert "cutlass cross-check" in run.stdout, run.stdout


def _setup_module():
    spec = importlib.util.spec_from_file_location("convkernels_setup_for_test", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_compiles_sm90_files_apart_for_sm90a_only():
    setup = _setup_module()
    assert not [s for s in setup.relative_sources() if "/sm90/" in s]
    flags = setup.sm90_nvcc_flags(["/cutlass/include"])
    assert "-gencode=arch=compute_90a,code=sm_90a" in flags and "-I/cutlass/include" in flags
    assert not [f for f in flags if f.startswith("-gencode") and "90a" not in f]
    assert "9.0" in setup.sm90_plan(["sm_80", "sm_86"])[2]


def test_build_says_when_cutlass_headers_are_missing(monkeypatch):
    setup = _setup_module()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cutlass_library" else real(name, *a))
    dirs, version, reason = setup.sm90_plan(["sm_80", "sm_90"])
    assert not dirs and not version
    assert "CUTLASS headers are missing" in reason and setup.CUTLASS_PIN in reason


def test_build_info_records_the_sm90_conv():
    from convkernels import _extension

    if not _extension.load()[0]:
        pytest.skip("the CUDA extension is not built")
    info = _extension.build_info().get("sm90_conv")
    assert info is not None, "rebuild the extension: its _C.build.json predates the sm90 conv"
    assert set(info) >= {"built", "reason", "cutlass", "arch"}
    assert info["built"] == (not info["reason"]), info
