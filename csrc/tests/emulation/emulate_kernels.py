#!/usr/bin/env python3
"""Run the real CUDA kernels of csrc/kernels on the CPU, no GPU needed.

The kernel sources are copied to a temporary folder with three mechanical rewrites
(``kernel<<<grid, block, smem, stream>>>(args)`` -> ``ck_emu::launch(kernel, grid, block, smem,
stream, args)``, ``__shared__`` -> ``static``, the dynamic ``extern __shared__`` array -> the
emulator's buffer) and compiled with g++ against the shims in csrc/tests/emulation/, which put
their own cuda_runtime.h, cuda_fp16.h, cuda_bf16.h and common/mma_sm80.cuh first on the include
path. Each CUDA thread becomes a std::thread; cp.async, ldmatrix and mma.sync are emulated from
their PTX ISA definitions. Each driver ``csrc/tests/emulation/run_<family>.cpp`` (one per op
family, sharing emu_test.h) is linked with every kernel object into its own program, which
drives that family's launchers over many shapes and layouts and compares with float64
references.

What this proves: index math, masking, layouts, pipeline slot reuse, epilogues and reductions
are right for the emulated semantics. What it cannot prove: timing-dependent behaviour on real
hardware (cp.async completion, memory ordering beyond __syncthreads) or the PTX semantics
themselves, which the emulator encodes from the ISA manual.

    python csrc/tests/emulation/emulate_kernels.py     # ~40 s on 2 cores, under ASan + UBSan
    python csrc/tests/emulation/emulate_kernels.py -v --no-sanitize
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
KERNEL_DIR = ROOT / "csrc" / "kernels"
EMULATION_DIR = ROOT / "csrc" / "tests" / "emulation"
# The sm_90a conv is CUTLASS's (wgmma, TMA, cluster barriers): nothing this emulator models. Its
# checks are the host tests of its setup and the SASS test (tests/test_kernel_sass_sm90.py).
SM90_CUTLASS_DIR = KERNEL_DIR / "conv" / "sm90"

# name or name<template args> immediately followed by <<<config>>>(args);
LAUNCH_RE = re.compile(
    r"(?P<kernel>[A-Za-z_][\w:]*(?:<[^;{}<>]*(?:<[^;{}<>]*>[^;{}<>]*)*>)?)\s*<<<(?P<config>.*?)>>>"
    r"\s*\((?P<args>[^;]*?)\)\s*;",
    re.S,
)
DYNAMIC_SMEM_RE = re.compile(
    r"extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?unsigned\s+char\s+(?P<name>\w+)\[\]\s*;"
)


def rewrite(source: str) -> str:
    source = DYNAMIC_SMEM_RE.sub(
        r"unsigned char* \g<name> = ::ck_emu::dynamic_shared().data();", source
    )
    source = source.replace("__shared__", "static")
    return LAUNCH_RE.sub(
        lambda m: f"::ck_emu::launch({m['kernel']}, {m['config']}, {m['args']});", source
    )


def build_and_run(verbose: bool = False, sanitize: bool = True) -> int:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        print("emulate_kernels: no C++ compiler found (set CXX)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ck_emulate_") as tmp:
        tree = Path(tmp) / "kernels"
        sources = []
        for path in sorted(KERNEL_DIR.rglob("*")):
            if path.is_dir() or SM90_CUTLASS_DIR in path.parents:
                continue
            rel = path.relative_to(KERNEL_DIR)
            target = tree / (rel.with_suffix(".cpp") if path.suffix == ".cu" else rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = rewrite(path.read_text())
            if path.suffix == ".cu" and "<<<" in text:
                print(f"emulate_kernels: unrecognised launch syntax left in {rel}", file=sys.stderr)
                return 2
            target.write_text(text)
            if path.suffix == ".cu":
                sources.append(target)
        drivers = sorted(EMULATION_DIR.glob("run_*.cpp"))
        # Out-of-bounds global/shared accesses and integer overflow in the kernels become errors.
        sanitizer_flags = (
            ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"] if sanitize else []
        )
        start = time.perf_counter()
        objects = _compile_all(cxx, [*sources, *drivers], Path(tmp), tree, sanitizer_flags)
        if objects is None:
            return 2
        kernel_objects = objects[: len(sources)]
        built = time.perf_counter()
        status = 0
        for driver, driver_obj in zip(drivers, objects[len(sources):]):
            exe = Path(tmp) / driver.stem
            link = subprocess.run(
                [cxx, "-pthread", *sanitizer_flags, *map(str, kernel_objects), str(driver_obj),
                 "-o", str(exe)],
                capture_output=True,
                text=True,
            )
            if link.returncode != 0:
                print(f"emulate_kernels: linking {driver.name} failed:\n{link.stdout}{link.stderr}",
                      file=sys.stderr)
                return 2
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
            t0 = time.perf_counter()
            run = subprocess.run([str(exe)], capture_output=True, text=True, env=env)
            output = run.stdout + run.stderr
            if verbose or run.returncode != 0:
                print(output, end="")
            else:  # the summary line, and the measurements the driver prints as "note: ..."
                lines = output.strip().splitlines()
                for line in [ln for ln in lines[:-1] if ln.startswith("note:")] + lines[-1:]:
                    print(line)
                if not lines:
                    print(f"{driver.stem}: (no output)")
            print(f"emulate_kernels: {driver.stem} ran {time.perf_counter() - t0:.1f} s -> "
                  f"{'OK' if run.returncode == 0 else 'FAILED'}")
            status = status or (0 if run.returncode == 0 else 1)
        print(f"emulate_kernels: build {built - start:.1f} s, {len(drivers)} drivers -> "
              f"{'OK' if status == 0 else 'FAILED'}")
        return status


def _compile_all(cxx, sources, tmp: Path, tree: Path, sanitizer_flags) -> list[Path] | None:
    """One object per file, compiled in parallel; None (after printing why) if any fails."""
    objects, procs = [], []
    for src in sources:
        obj = tmp / f"{src.parent.name}__{src.stem}.o"
        objects.append(obj)
        cmd = [cxx, "-std=c++20", "-O2", "-pthread", "-w", *sanitizer_flags,
               f"-I{EMULATION_DIR}", f"-I{tree}", "-c", str(src), "-o", str(obj)]
        procs.append((src, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True)))
    failed = False
    for src, proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            print(f"emulate_kernels: compiling {src.name} failed:\n{out}", file=sys.stderr)
            failed = True
    return None if failed else objects


if __name__ == "__main__":
    sys.exit(
        build_and_run(verbose="-v" in sys.argv[1:], sanitize="--no-sanitize" not in sys.argv[1:])
    )
