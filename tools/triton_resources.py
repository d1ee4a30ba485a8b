"""Compile Triton kernels for a GPU target on any machine (no GPU needed) and report what they
use: shared memory, registers, and the per-thread stack frame (local memory, where spilled
arrays go). This is how a pathological config is found before a GPU run.

    python tools/triton_resources.py               # the Winograd kernels, sm_90
    python tools/triton_resources.py --json        # the same as JSON

Run it without TRITON_INTERPRET=1: interpreted kernels cannot be compiled.

Needs the Triton package's own cuobjdump (triton/backends/nvidia/bin), which reads the cubins
it makes.
"""

from __future__ import annotations

import inspect
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Resources:
    shared_bytes: int      # dynamic shared memory the launch asks for
    registers: int         # per thread
    stack_bytes: int       # per-thread stack frame: local memory

    def __str__(self) -> str:
        return (f"shared {self.shared_bytes} B, {self.registers} registers, "
                f"stack {self.stack_bytes} B/thread")


def cuobjdump() -> Path:
    import triton
    return Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def compile_for(kernel, arg_types: dict, constexprs: dict, num_warps: int,
                arch: int = 90) -> Resources:
    """Compile ``kernel`` (a triton.jit function) for sm_<arch>: pointer/int argument types
    ("*fp16", "i32", ...) by name, constexpr values by name."""
    compiled = compile_kernel(kernel, arg_types, constexprs, num_warps, arch)
    return resources_of(compiled)


def compile_kernel(kernel, arg_types: dict, constexprs: dict, num_warps: int, arch: int = 90):
    """``kernel`` compiled for sm_<arch> (its ``.asm`` holds "ptx" and "cubin")."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kernel = jit_function(kernel)
    params = list(inspect.signature(kernel.fn).parameters)
    signature = {p: "constexpr" if p in constexprs else arg_types[p] for p in params}
    source = ASTSource(fn=kernel, signature=signature,
                       constexprs={(params.index(k),): v for k, v in constexprs.items()})
    return triton.compile(source, target=GPUTarget("cuda", arch, 32),
                          options={"num_warps": num_warps})


def jit_function(kernel):
    """The ``triton.jit`` function under autotuner / heuristics wrappers."""
    import triton
    while not isinstance(kernel, triton.runtime.JITFunction):
        kernel = kernel.fn
    return kernel


def resources_of(compiled) -> Resources:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        usage = subprocess.run([str(cuobjdump()), "--dump-resource-usage", f.name],
                               capture_output=True, text=True, check=True).stdout
    fields = dict(item.split(":", 1) for line in usage.splitlines() if "REG:" in line
                  for item in line.split() if ":" in item)
    return Resources(int(compiled.metadata.shared), int(fields["REG"]), int(fields["STACK"]))


def winograd_fused(m: int, dtype: str, arch: int = 90) -> Resources:
    """The fused Winograd F(m x m, 3x3) kernel as the triton backend launches it on a GPU."""
    from convkernels.triton import winograd

    alpha = m + 2
    ap = 1 << (alpha * alpha - 1).bit_length()
    mp = max(16, 1 << (m * m - 1).bit_length())
    block_t, block_c, block_k, warps = winograd.launch_blocks(m, False, None)
    constexprs = dict(M_TILE=m, ALPHA=alpha, AP=ap, MP=mp, HAS_SCALE=False, HAS_SHIFT=False,
                      HAS_RESIDUAL=False, RELU=False, INDEX_64=False, DOT_FP32=False,
                      BF16_RTNE=False, INPUT_PRECISION="ieee", BLOCK_T=block_t,
                      BLOCK_C=block_c, BLOCK_K=block_k)
    element = {"fp16": "*fp16", "bf16": "*bf16", "fp32": "*fp32"}[dtype]
    kernel = winograd.winograd_fused_kernel
    types = {p: (element if p in ("x_ptr", "u_ptr", "res_ptr", "out_ptr")
                 else "*fp32" if p.endswith("_ptr") else "i32")
             for p in inspect.signature(kernel.fn).parameters}
    return compile_for(kernel, types, constexprs, warps, arch)


def conv_tensor_core_products(precision: str, arch: int = 90) -> int:
    """Tensor-core product instructions (wgmma / mma) in the PTX of the triton direct conv
    kernel for float32 operands in ``precision`` ("tf32", "tf32x3"; "ieee" makes none)."""
    from convkernels.triton import conv

    kernel = jit_function(conv.conv2d_fused_kernel)
    constexprs = dict(HAS_SCALE=False, HAS_SHIFT=False, HAS_RESIDUAL=False, RELU=False,
                      BLOCKED=True, ORDER_CRS=False, A_M_FAST=False, INDEX_64=False,
                      K_INDEX_64=False, DOT_FP32=False, BF16_RTNE=False,
                      INPUT_PRECISION=precision, GROUP_M=8, BLOCK_M=64, BLOCK_N=64,
                      BLOCK_K=32)
    types = {p: "*fp32" if p.endswith("_ptr") else "i32"
             for p in inspect.signature(kernel.fn).parameters}
    ptx = compile_kernel(kernel, types, constexprs, 4, arch).asm["ptx"]
    return sum(line.lstrip().startswith(("wgmma.mma_async", "mma.sync"))
               for line in ptx.splitlines())


def main(argv=None) -> None:
    import argparse
    import json
    from dataclasses import asdict
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    ap.add_argument("--conv-products", action="store_true",
                    help="instead: tensor-core product instructions of the direct conv kernel "
                         "per float32 precision (JSON)")
    args = ap.parse_args(argv)
    if args.conv_products:
        print(json.dumps({p: conv_tensor_core_products(p) for p in ("ieee", "tf32", "tf32x3")}))
        return
    found = {f"winograd_{m}x{m}_{dtype}": winograd_fused(m, dtype)
             for m in (2, 4) for dtype in ("fp16", "fp32")}
    if args.json:
        print(json.dumps({k: asdict(v) for k, v in found.items()}))
    else:
        for name, usage in found.items():
            print(f"{name}, sm_90: {usage}")


if __name__ == "__main__":
    main()
