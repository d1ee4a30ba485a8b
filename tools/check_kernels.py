#!/usr/bin/env python3
"""Compile every CUDA kernel file with plain nvcc and check ptxas' resource report.

Runs without a GPU (CI has none): each ``csrc/kernels/**/*.cu`` is compiled for every
target arch with ``-Xptxas -v``; the per-kernel registers, spills, stack and static shared
memory are printed as a table (optionally written as JSON), and the exit status is non-zero
when any kernel spills. The flags match what setup.py passes for the extension build,
including torch's ``__CUDA_NO_HALF*`` macros, so this checks the code that ships.

    python tools/check_kernels.py                   # sm_80 + sm_90
    python tools/check_kernels.py --arch 90 --json report.json
    python tools/check_kernels.py --host-tests      # + csrc/tests and the CPU kernel emulator
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_DIR = ROOT / "csrc" / "kernels"
HOST_TEST_DIR = ROOT / "csrc" / "tests"
DEFAULT_ARCHS = ("80", "90")


def _load_setup():
    """setup.py's flag definitions (it runs setup() only as __main__), so both compile alike."""
    spec = importlib.util.spec_from_file_location("convkernels_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SETUP = _load_setup()
TORCH_NVCC_DEFINES = _SETUP.TORCH_NVCC_DEFINES
# The sm_90a CUTLASS conv files build for one target only, with their own flags (setup.py).
SM90_DIR = _SETUP.SM90_DIR
SM90_ARCH = "90a"
cutlass_headers = _SETUP.cutlass_headers


def is_sm90_source(source: Path) -> bool:
    return SM90_DIR in source.parents

ENTRY_RE = re.compile(r"Compiling entry function '(?P<name>[^']+)' for '(?P<arch>[^']+)'")
PROPERTIES_RE = re.compile(r"Function properties for (?P<name>\S+)")
SPILL_RE = re.compile(
    r"(?P<stack>\d+) bytes stack frame, (?P<stores>\d+) bytes spill stores, "
    r"(?P<loads>\d+) bytes spill loads"
)
USED_RE = re.compile(r"Used (?P<regs>\d+) registers(?P<rest>.*)")
SMEM_RE = re.compile(r"(?P<smem>\d+) bytes smem")


@dataclass
class KernelReport:
    source: str
    arch: str
    mangled: str
    name: str = ""
    registers: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    stack_bytes: int = 0
    static_smem_bytes: int = 0

    @property
    def spills(self) -> int:
        return self.spill_stores + self.spill_loads


@dataclass
class CompileResult:
    source: str
    arch: str
    seconds: float
    ok: bool
    log: str
    kernels: list[KernelReport] = field(default_factory=list)


def find_nvcc() -> str | None:
    for env in ("CUDA_HOME", "CUDA_PATH"):
        home = os.environ.get(env)
        if home and (Path(home) / "bin" / "nvcc").exists():
            return str(Path(home) / "bin" / "nvcc")
    return shutil.which("nvcc")


def parse_ptxas(log: str, source: str) -> list[KernelReport]:
    """Turn ptxas -v output into one report per entry function (kernel)."""
    kernels: dict[str, KernelReport] = {}
    current_entry: KernelReport | None = None
    properties_for: str | None = None
    for line in log.splitlines():
        if m := ENTRY_RE.search(line):
            arch = m["arch"].replace("sm_", "")
            current_entry = KernelReport(source=source, arch=arch, mangled=m["name"])
            kernels[m["name"]] = current_entry
        elif m := PROPERTIES_RE.search(line):
            properties_for = m["name"]
        elif m := SPILL_RE.search(line):
            target = kernels.get(properties_for or "", current_entry)
            if target is not None:
                target.stack_bytes = int(m["stack"])
                target.spill_stores = int(m["stores"])
                target.spill_loads = int(m["loads"])
        elif (m := USED_RE.search(line)) and current_entry is not None:
            current_entry.registers = int(m["regs"])
            if s := SMEM_RE.search(m["rest"]):
                current_entry.static_smem_bytes = int(s["smem"])
    return list(kernels.values())


def compile_one(nvcc: str, source: Path, arch: str, out_dir: Path) -> CompileResult:
    """Compile one kernel file for sm_<arch>; an sm_90a CUTLASS file always compiles for sm_90a
    with setup.py's flags for it (its object is then <stem>.sm90a.o)."""
    rel = str(source.relative_to(ROOT))
    if is_sm90_source(source):
        arch = SM90_ARCH
        include_dirs, _, missing = cutlass_headers()
        if missing:
            return CompileResult(source=rel, arch=arch, seconds=0.0, ok=False, log=missing)
        flags = _SETUP.sm90_nvcc_flags(include_dirs)
    else:
        flags = ["-std=c++17", "-O3", "-lineinfo", f"-I{KERNEL_DIR}", *TORCH_NVCC_DEFINES,
                 f"-gencode=arch=compute_{arch},code=sm_{arch}"]
    obj = out_dir / f"{source.stem}.sm{arch}.o"
    cmd = [nvcc, *flags, "-Xptxas", "-v", "-c", str(source), "-o", str(obj)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    result = CompileResult(source=rel, arch=arch, seconds=seconds, ok=proc.returncode == 0, log=log)
    if result.ok:
        result.kernels = parse_ptxas(log, rel)
    return result


def demangle(names: list[str]) -> dict[str, str]:
    tool = shutil.which("cu++filt") or shutil.which("c++filt")
    if not tool or not names:
        return {n: n for n in names}
    proc = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != len(names):
        return {n: n for n in names}
    return dict(zip(names, lines, strict=True))


def short_name(demangled: str) -> str:
    """'void convkernels::x::k<T, convkernels::x::C<1> >(convkernels::x::Args)' -> 'k<T, C<1>>'"""
    name = demangled.removeprefix("void ").replace("(anonymous namespace)::", "")
    # CUTLASS kernels: thousands of characters of types, which c++filt may not demangle either;
    # name the kernel class and its (first-named) element type.
    if re.match(r"(cutlass::|_ZN7cutlass13)device_kernel", name):
        kind = re.search(r"(Conv|Gemm)Universal", name)
        element = re.search(r"bfloat16_t|half_t|tfloat32_t", name)
        return (f"cutlass::device_kernel<{kind.group(0) if kind else '?'}<"
                f"{element.group(0) if element else '?'}, ...>>")
    depth = 0
    for i, ch in enumerate(name):  # drop the parameter list: first '(' at template depth 0
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            name = name[:i]
            break
    name = re.sub(r"\b(?:convkernels|conv|batch_norm|generic|tc)::", "", name)
    return name.replace(" >", ">")


def print_table(kernels: list[KernelReport]) -> None:
    headers = ("kernel", "arch", "regs", "spill st", "spill ld", "stack", "static smem", "file")
    rows = [
        (
            k.name,
            f"sm_{k.arch}",
            str(k.registers),
            str(k.spill_stores),
            str(k.spill_loads),
            str(k.stack_bytes),
            str(k.static_smem_bytes),
            Path(k.source).name,
        )
        for k in sorted(kernels, key=lambda k: (k.source, k.name, k.arch))
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i in (0, 7) else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print("(dynamic shared memory of the tensor-core conv is set at launch; ptxas cannot see it)")


def host_test_includes() -> list[str]:
    """Include flags of the host-only C++ tests beyond csrc/kernels: the CUDA runtime headers
    (conv/conv.h declares launchers with cudaError_t) and, when installed, CUTLASS's headers
    for the sm_90a conv's setup test. -isystem: their warnings are not ours to fail on."""
    flags: list[str] = []
    cuda_home, _ = _SETUP.find_cuda_home()
    if cuda_home is not None:
        for include in (cuda_home / "include", cuda_home / "include" / "cccl"):
            if include.is_dir():
                flags += ["-isystem", str(include)]
    cutlass_dirs, _, missing = cutlass_headers()
    if not missing:
        flags += ["-isystem", cutlass_dirs[0]]
    return flags


def run_host_tests(jobs_dir: Path) -> bool:
    """Build csrc/tests/*.cpp with the host compiler (no CUDA) and run them, then run every
    kernel on the CPU emulator (csrc/tests/emulation/) against float64 references."""
    cxx = (
        os.environ.get("CXX")
        or shutil.which("g++")
        or shutil.which("c++")
        or shutil.which("clang++")
    )
    if cxx is None:
        print("host tests: no C++ compiler found (set CXX)", file=sys.stderr)
        return False
    ok = True
    for test in sorted(HOST_TEST_DIR.glob("*.cpp")):
        exe = jobs_dir / test.stem
        build = subprocess.run(
            [
                cxx,
                "-std=c++17",
                "-O1",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-x",
                "c++",
                f"-I{KERNEL_DIR}",
                *host_test_includes(),
                str(test),
                "-o",
                str(exe),
            ],
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            print(
                f"host test {test.name}: build FAILED\n{build.stdout}{build.stderr}",
                file=sys.stderr,
            )
            ok = False
            continue
        run = subprocess.run([str(exe)], capture_output=True, text=True)
        status = "ok" if run.returncode == 0 else "FAILED"
        print(f"host test {test.name}: {status}")
        if run.returncode != 0 or os.environ.get("CK_VERBOSE"):
            print(run.stdout + run.stderr, file=sys.stderr if run.returncode else sys.stdout)
        ok = ok and run.returncode == 0
    emulation = subprocess.run(
        [sys.executable, str(HOST_TEST_DIR / "emulation" / "emulate_kernels.py")],
        capture_output=True,
        text=True,
    )
    print(
        f"kernel emulation: {'ok' if emulation.returncode == 0 else 'FAILED'}\n"
        f"{emulation.stdout.strip()}"
    )
    if emulation.returncode != 0:
        print(emulation.stderr, file=sys.stderr)
    return ok and emulation.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--arch", action="append", help="SM version such as 80 or 9.0 (repeatable; default 80, 90)"
    )
    parser.add_argument("--json", type=Path, help="write the per-kernel report to this JSON file")
    parser.add_argument(
        "--host-tests",
        action="store_true",
        help="also run the host-only C++ tests and the kernels on the CPU emulator (~40 s more)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel nvcc processes"
    )
    args = parser.parse_args(argv)

    archs = [a.replace(".", "").replace("sm_", "") for a in (args.arch or DEFAULT_ARCHS)]
    sources = sorted(KERNEL_DIR.rglob("*.cu"))
    # (source, arch) pairs: the sm_90a files once, when any sm_90 arch is asked for and the
    # CUTLASS headers are installed (without them the build leaves those files out too).
    _, _, cutlass_missing = cutlass_headers()
    want_sm90 = any(a.startswith("90") for a in archs)
    jobs = [(src, arch) for src in sources if not is_sm90_source(src) for arch in archs]
    sm90_files = [src for src in sources if is_sm90_source(src)]
    if sm90_files and want_sm90 and cutlass_missing:
        print(f"check_kernels: skipping {len(sm90_files)} sm_90a CUTLASS file(s): "
              f"{cutlass_missing}")
    elif want_sm90:
        jobs += [(src, SM90_ARCH) for src in sm90_files]
    nvcc = find_nvcc()
    if nvcc is None:
        print("check_kernels: nvcc not found (set CUDA_HOME or put nvcc on PATH)", file=sys.stderr)
        return 2
    if not sources:
        print(f"check_kernels: no .cu files under {KERNEL_DIR}", file=sys.stderr)
        return 2

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="check_kernels_") as tmp:
        tmp_dir = Path(tmp)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(compile_one, nvcc, src, arch, tmp_dir) for src, arch in jobs]
            results = [f.result() for f in futures]
        compile_seconds = time.perf_counter() - start
        host_ok = True
        if args.host_tests:
            print("host tests:")
            host_ok = run_host_tests(tmp_dir)
            print()

    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"\nCOMPILE FAILED: {r.source} for sm_{r.arch}\n{r.log}", file=sys.stderr)

    kernels = [k for r in results for k in r.kernels]
    names = demangle(sorted({k.mangled for k in kernels}))
    for k in kernels:
        k.name = short_name(names[k.mangled])
    print_table(kernels)
    print(
        f"\n{len(kernels)} kernels from {len(jobs)} compiles ({len(sources)} files; "
        f"{', '.join(sorted({f'sm_{arch}' for _, arch in jobs}))}) "
        f"in {compile_seconds:.1f} s "
        f"(slowest compile: {max(r.seconds for r in results):.1f} s)"
    )

    spilling = [k for k in kernels if k.spills > 0]
    for k in spilling:
        print(
            f"SPILL: {k.name} on sm_{k.arch} spills {k.spill_stores} B stores / "
            f"{k.spill_loads} B loads "
            f"({k.source}); lower the tile's register use or its launch bounds",
            file=sys.stderr,
        )

    if args.json:
        payload = {
            "archs": [f"sm_{a}" for a in archs],
            "nvcc": nvcc,
            "ok": not failed and not spilling and host_ok,
            "compile_failures": [
                {"source": r.source, "arch": f"sm_{r.arch}", "log": r.log} for r in failed
            ],
            "kernels": [asdict(k) | {"arch": f"sm_{k.arch}"} for k in kernels],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")

    if failed or spilling or not host_ok:
        reasons = []
        if failed:
            reasons.append(f"{len(failed)} compile failure(s)")
        if spilling:
            reasons.append(f"{len(spilling)} kernel(s) with spills")
        if not host_ok:
            reasons.append("host tests failed")
        print("check_kernels: FAILED: " + ", ".join(reasons), file=sys.stderr)
        return 1
    print("check_kernels: OK (no spills)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
