"""Build script: the `convkernels` package, plus the `convkernels._C` CUDA extension when the
installed torch has CUDA and nvcc is found (otherwise a pure-Python install: the triton and
torch backends still work).

    pip install --no-build-isolation -e .      # or: pip install --no-build-isolation .

Environment:
    TORCH_CUDA_ARCH_LIST   archs to compile, e.g. "9.0", "8.0;9.0", "8.6+PTX" (default "8.0;9.0")
    MAX_JOBS               parallel compile jobs (ninja)
    CUDA_HOME              CUDA toolkit root; found from nvcc when unset
    CONVKERNELS_BUILD_CUDA set to 0 to skip the extension on purpose

Metadata (name, version, dependencies) lives in pyproject.toml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
DEFAULT_ARCH_LIST = "8.0;9.0"
# Names torch users know from torch.utils.cpp_extension, limited to what these kernels target.
NAMED_ARCHES = {"Ampere": "8.0;8.6", "Ada": "8.9", "Hopper": "9.0"}


def log(message: str) -> None:
    print(f"convkernels setup: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# CUDA toolkit discovery (before torch.utils.cpp_extension is imported: it reads CUDA_HOME once
# at import time and would otherwise guess the folder above an `nvcc` wrapper script).


def _nvcc_top(nvcc: str) -> Path | None:
    """Toolkit root as nvcc itself reports it (works through wrapper scripts and symlinks)."""
    try:
        proc = subprocess.run(
            [nvcc, "--dryrun", "-c", "-x", "cu", os.devnull, "-o", os.devnull],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"#\$ TOP=(.+)$", line.strip())
        if m:
            return Path(m.group(1).strip()).resolve()
    return None


def _is_toolkit(root: Path | None) -> bool:
    return (
        root is not None
        and (root / "bin" / "nvcc").exists()
        and (root / "include" / "cuda_runtime.h").exists()
    )


def find_cuda_home() -> tuple[Path | None, str]:
    """(toolkit root, reason when not found)."""
    for env in ("CUDA_HOME", "CUDA_PATH"):
        value = os.environ.get(env)
        if value:
            root = Path(value)
            if _is_toolkit(root):
                return root, ""
            log(f"ignoring {env}={value}: no bin/nvcc and include/cuda_runtime.h there")
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        default = Path("/usr/local/cuda")
        if _is_toolkit(default):
            return default, ""
        return None, "nvcc was not found (put it on PATH or set CUDA_HOME)"
    for candidate in (_nvcc_top(nvcc), Path(nvcc).resolve().parent.parent):
        if _is_toolkit(candidate):
            return candidate, ""
    return None, f"could not locate the CUDA toolkit that {nvcc} belongs to (set CUDA_HOME)"


def nvcc_version(cuda_home: Path) -> str:
    try:
        out = subprocess.run(
            [str(cuda_home / "bin" / "nvcc"), "--version"], capture_output=True, text=True
        ).stdout
    except OSError:
        return "unknown"
    m = re.search(r"V(\d+\.\d+\.\d+)", out) or re.search(r"release (\d+\.\d+)", out)
    return m.group(1) if m else "unknown"


# ---------------------------------------------------------------------------------------------
# Arch list -> -gencode flags


def arch_flags(torch_module) -> tuple[list[str], list[str]]:
    """(-gencode flags, names such as sm_80 / compute_90) from TORCH_CUDA_ARCH_LIST."""
    spec = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip() or DEFAULT_ARCH_LIST
    for name, value in NAMED_ARCHES.items():
        spec = spec.replace(name, value)
    entries = [e for e in re.split(r"[;,\s]+", spec) if e]
    if entries == ["native"]:
        if not torch_module.cuda.is_available():
            raise SystemExit(
                "TORCH_CUDA_ARCH_LIST=native needs a visible GPU; give the arch, e.g. 9.0"
            )
        major, minor = torch_module.cuda.get_device_capability()
        entries = [f"{major}.{minor}"]
    flags: list[str] = []
    names: list[str] = []
    for entry in entries:
        m = re.fullmatch(r"(\d+)\.(\d+)([af]?)(\+PTX)?", entry)
        if m is None:
            raise SystemExit(
                f"TORCH_CUDA_ARCH_LIST: cannot parse {entry!r} "
                "(expected e.g. 8.0, 9.0, 9.0a, 8.6+PTX)"
            )
        num = f"{m.group(1)}{m.group(2)}{m.group(3)}"
        if int(m.group(1)) < 8:
            log(
                f"note: arch {entry} is below sm_80; the tensor-core conv is compiled out "
                "there (SIMT kernels only)"
            )
        flags.append(f"-gencode=arch=compute_{num},code=sm_{num}")
        names.append(f"sm_{num}")
        if m.group(4):
            flags.append(f"-gencode=arch=compute_{num},code=compute_{num}")
            names.append(f"compute_{num}")
    return flags, names


def macro_token(value: str) -> str:
    """Keep build-info macro values to characters that need no shell or nvcc quoting."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", value)


def nvidia_wheel_include_dirs() -> list[str]:
    """Headers shipped in the nvidia-* wheels torch depends on (cuBLAS, cuDNN, ...), for toolkits
    that lack them. Used with -idirafter so the toolkit's own CUDA runtime headers always win."""
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    dirs: list[str] = []
    for base in list(spec.submodule_search_locations or []) if spec else []:
        for include in sorted(Path(base).glob("*/include")):
            dirs.append(str(include))
    return dirs


# ---------------------------------------------------------------------------------------------
# Packages


def package_layout() -> list[str]:
    # The reference networks live in convkernels/models (not a top-level models/ mapped with
    # package_dir): one import path in the source tree and installed, and no top-level
    # "models" package to clash with a user's own.
    return find_packages(where=str(ROOT), include=["convkernels", "convkernels.*"])


def relative_sources() -> list[str]:
    """Extension sources, relative to setup.py (setuptools rejects absolute source paths).
    The sm_90a CUTLASS conv files are not among them: they need their own flags (see
    compile_sm90_objects)."""
    csrc = ROOT / "csrc"
    files = [
        csrc / "registration.cpp",
        *sorted((csrc / "ops").glob("*.cpp")),
        *sorted(f for f in (csrc / "kernels").rglob("*.cu") if SM90_DIR not in f.parents),
    ]
    return [f.relative_to(ROOT).as_posix() for f in files]


# ---------------------------------------------------------------------------------------------
# The sm_90a conv (csrc/kernels/conv/sm90): CUTLASS 3.x headers from the nvidia-cutlass wheel,
# compiled for the arch-specific target (wgmma, setmaxnreg) with flags of its own. torch's
# extension build applies one nvcc flag set to every .cu, so these files are compiled here
# and linked in as objects. tools/check_kernels.py imports these definitions.

SM90_DIR = ROOT / "csrc" / "kernels" / "conv" / "sm90"
CUTLASS_PIN = "nvidia-cutlass==4.2.0.0"
SM90_GENCODE = "-gencode=arch=compute_90a,code=sm_90a"
# Same defines torch.utils.cpp_extension adds to every nvcc command of the extension build.
TORCH_NVCC_DEFINES = (
    "-D__CUDA_NO_HALF_OPERATORS__",
    "-D__CUDA_NO_HALF_CONVERSIONS__",
    "-D__CUDA_NO_BFLOAT16_CONVERSIONS__",
    "-D__CUDA_NO_HALF2_OPERATORS__",
    "--expt-relaxed-constexpr",
)


def cutlass_headers() -> tuple[list[str], str, str]:
    """(include dirs, CUTLASS version, reason when missing) from the installed nvidia-cutlass
    wheel: `import cutlass_library` -> <dir>/source/include (+ source/tools/util/include, which
    the conv collective includes)."""
    import importlib.util

    spec = importlib.util.find_spec("cutlass_library")
    if spec is None or not spec.origin:
        return [], "", (f"the CUTLASS headers are missing: the Python package cutlass_library is "
                        f"not installed (pip install --no-deps {CUTLASS_PIN})")
    source = Path(spec.origin).parent / "source"
    dirs = [source / "include", source / "tools" / "util" / "include"]
    version_h = dirs[0] / "cutlass" / "version.h"
    if not version_h.exists() or not (dirs[1] / "cutlass" / "util" / "packed_stride.hpp").exists():
        return [], "", (f"the CUTLASS headers are missing: {source} lacks "
                        f"include/cutlass/version.h or tools/util/include "
                        f"(reinstall {CUTLASS_PIN})")
    text = version_h.read_text()
    parts = [re.search(rf"#define CUTLASS_{k} (\d+)", text) for k in ("MAJOR", "MINOR", "PATCH")]
    version = ".".join(m.group(1) for m in parts) if all(parts) else "unknown"
    return [str(d) for d in dirs], version, ""


def sm90_nvcc_flags(include_dirs: list[str]) -> list[str]:
    """nvcc flags of the sm_90a conv files (without -c/-o). NDEBUG: CUTLASS's device asserts
    are function calls, and a call inside the wgmma pipeline serializes it (ptxas C7510)."""
    return ["-std=c++17", "-O3", "-lineinfo", "-DNDEBUG", "-Xcompiler=-fPIC", *TORCH_NVCC_DEFINES,
            f"-I{ROOT / 'csrc' / 'kernels'}", *(f"-I{d}" for d in include_dirs), SM90_GENCODE]


def sm90_sources() -> list[Path]:
    return sorted(SM90_DIR.glob("*.cu"))


def sm90_plan(arch_names: list[str]) -> tuple[list[str], str, str]:
    """(CUTLASS include dirs, version, reason it is not built) for this build."""
    if not any(re.fullmatch(r"(sm|compute)_90a?", a) for a in arch_names):
        return [], "", "TORCH_CUDA_ARCH_LIST has no 9.0 (Hopper) entry"
    return cutlass_headers()


def compile_sm90_objects(nvcc: str, include_dirs: list[str], out_dir: Path) -> list[str]:
    """Compile the sm_90a files in parallel (MAX_JOBS), skipping up-to-date objects."""
    import concurrent.futures
    import time

    out_dir.mkdir(parents=True, exist_ok=True)
    flags = sm90_nvcc_flags(include_dirs)
    kernels = ROOT / "csrc" / "kernels"
    deps = [*SM90_DIR.iterdir(), kernels / "conv" / "conv.h", *(kernels / "common").glob("*.h")]
    newest_dep = max(p.stat().st_mtime for p in deps)
    stamp = out_dir / "flags.txt"
    same_flags = stamp.exists() and stamp.read_text() == " ".join(flags)

    def one(src: Path) -> str:
        obj = out_dir / f"{src.stem}.o"
        if same_flags and obj.exists() and obj.stat().st_mtime >= newest_dep:
            return str(obj)
        start = time.monotonic()
        proc = subprocess.run([nvcc, *flags, "-c", str(src), "-o", str(obj)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"convkernels setup: compiling {src.relative_to(ROOT)} failed:\n"
                             f"{proc.stdout}{proc.stderr}")
        log(f"compiled {src.relative_to(ROOT)} for sm_90a in {time.monotonic() - start:.0f} s")
        return str(obj)

    jobs = int(os.environ.get("MAX_JOBS") or os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        objects = list(pool.map(one, sm90_sources()))
    stamp.write_text(" ".join(flags))
    return objects


def cuda_extension_or_reason():
    """(ext_modules, cmdclass, "") for the CUDA build, or ([], {}, reason) if it cannot be built."""
    if os.environ.get("CONVKERNELS_BUILD_CUDA", "1") == "0":
        return [], {}, "CONVKERNELS_BUILD_CUDA=0"
    try:
        import torch
    except ImportError:
        return (
            [],
            {},
            "torch is not importable (install torch first; build with --no-build-isolation)",
        )
    if torch.version.cuda is None:
        return [], {}, f"the installed torch {torch.__version__} has no CUDA support"
    cuda_home, why = find_cuda_home()
    if cuda_home is None:
        return [], {}, why
    os.environ["CUDA_HOME"] = str(cuda_home)

    import torch.utils.cpp_extension as cpp_extension

    if cpp_extension.CUDA_HOME != str(cuda_home):  # imported earlier by someone else
        cpp_extension.CUDA_HOME = str(cuda_home)
    gencode, arch_names = arch_flags(torch)
    nvcc_ver = nvcc_version(cuda_home)
    info_macros = [
        f"-DCONVKERNELS_ARCHS={','.join(arch_names)}",
        f"-DCONVKERNELS_TORCH_VERSION={macro_token(torch.__version__)}",
        f"-DCONVKERNELS_NVCC_VERSION={macro_token(nvcc_ver)}",
    ]
    idirafter = [flag for d in nvidia_wheel_include_dirs() for flag in ("-idirafter", d)]
    cutlass_dirs, cutlass_version, sm90_reason = sm90_plan(arch_names)
    if sm90_reason:
        log(f"NOT building the sm_90a CUTLASS conv: {sm90_reason}. On Hopper, cuda_conv2d_fused "
            "runs the mma.sync tensor-core kernel instead")
    else:
        log(f"building the sm_90a CUTLASS conv with CUTLASS {cutlass_version} headers at "
            f"{cutlass_dirs[0]}")
        info_macros.append("-DCONVKERNELS_HAS_SM90_CONV=1")
    extension = cpp_extension.CUDAExtension(
        name="convkernels._C",
        sources=relative_sources(),
        include_dirs=[str(ROOT / "csrc"), str(ROOT / "csrc" / "kernels")],
        extra_compile_args={
            # torch >= 2.10 headers need C++20; the .cu files include no torch header: C++17.
            # -g0 overrides the -g in Python's CFLAGS: debug info for torch's templates doubles the
            # glue's compile time and the .so size.
            "cxx": ["-O3", "-g0", "-std=c++20", *info_macros, *idirafter],
            "nvcc": ["-O3", "-std=c++17", "-lineinfo", *gencode],
        },
    )
    log(
        f"building convkernels._C with CUDA {nvcc_ver} at {cuda_home} for {', '.join(arch_names)} "
        f"against torch {torch.__version__} (MAX_JOBS={os.environ.get('MAX_JOBS', 'auto')})"
    )
    ensure_ninja_on_path()  # parallel builds (MAX_JOBS); torch falls back to serial without it
    facts = {"torch": torch.__version__, "cuda": torch.version.cuda, "nvcc": nvcc_ver,
             "archs": arch_names, "host_compiler": host_compiler_version(),
             # The sm_90a CUTLASS conv: whether it is in this build, and why not.
             "sm90_conv": {"built": not sm90_reason, "arch": "sm_90a", "cutlass": cutlass_version,
                           "reason": sm90_reason}}
    sm90 = None if sm90_reason else (str(cuda_home / "bin" / "nvcc"), cutlass_dirs)
    cmdclass = {"build_ext": build_ext_writing_facts(cpp_extension.BuildExtension, facts, sm90)}
    return [extension], cmdclass, ""


BUILD_FACTS_NAME = "_C.build.json"  # read by convkernels/_extension.py


def host_compiler_version() -> str:
    cxx = os.environ.get("CXX", "c++")
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return f"{cxx} (version unknown)"
    first = out.splitlines()[0] if out else "unknown"
    return f"{shutil.which(cxx) or cxx}: {first}"


def build_ext_writing_facts(base, facts: dict, sm90: tuple[str, list[str]] | None = None):
    """build_ext that also writes the build facts as JSON beside the extension, and first
    compiles the sm_90a conv objects when ``sm90`` = (nvcc, CUTLASS include dirs) is given.

    Importing convkernels reads this file instead of calling into the compiled library, so a
    broken or mismatched build can always be described, never crash the import.
    """
    import json
    import time

    class BuildExt(base.with_options(use_ninja=True)):
        def build_extensions(self):
            if sm90 is not None:
                objects = compile_sm90_objects(sm90[0], sm90[1], Path(self.build_temp) / "sm90")
                for ext in self.extensions:
                    ext.extra_objects = [*ext.extra_objects, *objects]
            super().build_extensions()

        def run(self):
            # ninja's per-file status line ("[12/32 files, 40 s]"); pip shows it with -v.
            os.environ.setdefault("NINJA_STATUS", "[%f/%t files, %e s] ")
            start = time.monotonic()
            super().run()
            library = Path(self.get_ext_fullpath("convkernels._C"))
            facts["libstdcxx_linkage"] = libstdcxx_linkage(library)
            target = library.parent / BUILD_FACTS_NAME
            target.write_text(json.dumps(facts, indent=1) + "\n")
            log(f"built convkernels._C in {time.monotonic() - start:.0f} s; wrote {target}")
            if facts["libstdcxx_linkage"] == "static":
                log(f"WARNING: {facts['host_compiler']} linked the C++ standard library statically "
                    "into convkernels._C; its iostreams then crash at run time (seen on a machine "
                    "whose default g++ is such a wrapper). convkernels will refuse to use this "
                    "build. Rebuild with the system compiler: CC=/usr/bin/gcc CXX=/usr/bin/g++")

    return BuildExt


def libstdcxx_linkage(library: Path) -> str:
    """'dynamic' when the library needs libstdc++.so, 'static' when it does not, 'unknown' when
    readelf is missing. Every glue file uses the C++ standard library, so a library that does
    not need the shared one carries its own copy."""
    readelf = shutil.which("readelf")
    if readelf is None or not library.exists():
        return "unknown"
    dynamic = subprocess.run([readelf, "-d", str(library)], capture_output=True, text=True).stdout
    return "dynamic" if "libstdc++" in dynamic else "static"


def ensure_ninja_on_path() -> None:
    """pip does not activate the venv, so its ninja (pip package) may not be on PATH."""
    if shutil.which("ninja"):
        return
    candidates = [Path(sys.executable).parent]
    try:
        import ninja

        candidates.append(Path(ninja.BIN_DIR))
    except (ImportError, AttributeError):
        pass
    for directory in candidates:
        if (directory / "ninja").exists():
            os.environ["PATH"] = f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"
            return


def main() -> None:
    packages = package_layout()
    ext_modules, cmdclass, reason = cuda_extension_or_reason()
    if not ext_modules:
        log(
            f"skipping the CUDA extension convkernels._C: {reason}. Installing pure Python "
            "(the triton and torch backends work; backend='cuda' will say it is not built)."
        )
    setup(
        packages=packages,
        # dispatch_table.json: what algo/backend="auto" may choose (read by _measured.py)
        package_data={"convkernels": ["dispatch_table.json", BUILD_FACTS_NAME]},
        ext_modules=ext_modules,
        cmdclass=cmdclass,
        zip_safe=False,
    )


if __name__ == "__main__":  # setuptools runs this file as __main__ (pip, build, setup.py)
    main()
