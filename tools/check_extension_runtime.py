"""Check that the built extension's C++ runtime works, in a subprocess, and say why if not.

    python tools/check_extension_runtime.py        # exit 0: ok; 1: the runtime check failed

A torch extension runs against whatever C++ standard library the Python process loaded first
(usually the system's, through torch). If the compiler that built it shipped newer libstdc++
headers than that library, code inlined from the headers (every ``TORCH_CHECK`` message, any
``std::ostringstream``) can crash the process. This script prints the facts that decide it (the
compiler recorded at build time, the libstdc++ the extension links, the one the process actually
loads) and runs ``convkernels._C._runtime_selftest()`` in a child process, under cuda-gdb for a
native backtrace when the child dies and cuda-gdb is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CHILD = ("import torch, convkernels._C as C; print(C._runtime_selftest(), flush=True); "
         "print(open('/proc/self/maps').read())")


def loaded_libstdcxx(maps: str) -> list[str]:
    return sorted({line.split()[-1] for line in maps.splitlines() if "libstdc++" in line})


def main() -> int:
    import importlib.util
    spec = importlib.util.find_spec("convkernels._C")
    if spec is None or not spec.origin:
        print("convkernels._C is not built: nothing to check")
        return 0
    so = Path(spec.origin)
    facts = so.with_name("_C.build.json")
    print(f"extension: {so}")
    print(f"build facts: {facts.read_text().strip() if facts.exists() else '(missing)'}")
    if shutil.which("ldd"):
        ldd = subprocess.run(["ldd", str(so)], capture_output=True, text=True).stdout
        print("links: " + "; ".join(line.strip() for line in ldd.splitlines()
                                     if "stdc++" in line or "libgcc" in line))
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True)
    first, _, maps = child.stdout.partition("\n")
    if child.returncode == 0:
        print(f"runtime self-test: {first}")
        print(f"libstdc++ loaded by the process: {loaded_libstdcxx(maps)}")
        return 0
    print(f"runtime self-test FAILED: exit {child.returncode} (negative = killed by that signal)")
    print(child.stderr[-3000:])
    gdb = shutil.which("cuda-gdb") or shutil.which("gdb")
    if gdb:
        trace = subprocess.run(
            [gdb, "-batch", "-ex", "run", "-ex", "bt 25", "-ex", "info sharedlibrary",
             "--args", sys.executable, "-c", CHILD.split("; print(open")[0]],
            capture_output=True, text=True, timeout=300)
        lines = trace.stdout.splitlines()
        keep = [ln for ln in lines if ln.startswith("#") or "stdc++" in ln or "SIG" in ln]
        print(f"{Path(gdb).name} backtrace:\n" + "\n".join(keep[:60]))
    return 1


if __name__ == "__main__":
    sys.exit(main())
