"""Helpers shared by the Triton launchers: layout rules, index width, launch context."""

from __future__ import annotations

import contextlib
import functools

import torch
import triton
import triton.language as tl

from .._layout import output_memory_format  # noqa: F401  (the one rule, shared)
from ..precision import get_fp32_precision

_INT32_MAX = 2**31 - 1


def is_interpreted(kernel) -> bool:
    """True when `kernel` was defined under TRITON_INTERPRET=1.

    triton.jit picks the interpreter at decoration time, so the launch path must follow
    the kernel object rather than re-read the environment (a test that sets the variable
    after import would otherwise autotune an interpreted kernel or feed CPU tensors to a
    compiled one).
    """
    return type(kernel).__name__ == "InterpretedFunction"


def channels_fastest(x: torch.Tensor) -> bool:
    """Whether dim 1 (C) is the innermost of C, H, W in memory (channels_last-like strides).

    Size-1 dims carry meaningless strides, so they are ignored; with H = W = 1 every
    ordering is equivalent and we report True; with C = 1 we report False.
    """
    spatial = [x.stride(d) for d in (2, 3) if x.size(d) > 1]
    if not spatial:
        return True
    if x.size(1) <= 1:
        return False
    return x.stride(1) < min(spatial)


def max_offset(t: torch.Tensor | None) -> int:
    """Largest element offset a kernel may form for `t` (sum of (size-1)*|stride|)."""
    if t is None or t.numel() == 0:
        return 0
    return sum((s - 1) * abs(st) for s, st in zip(t.shape, t.stride(), strict=True))


def needs_int64(*tensors, slack: int = 1) -> bool:
    """int64 index math iff some offset (times `slack` for padding overreach) can pass 2^31."""
    return any(max_offset(t) * slack + t.numel() >= _INT32_MAX for t in tensors if t is not None)


def device_context(t: torch.Tensor, interpreted: bool):
    """Launch on the tensor's device (Triton uses the current CUDA device and its stream)."""
    if interpreted or t.device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.device(t.device)


@functools.lru_cache(maxsize=None)
def _sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def sm_count(device: torch.device) -> int:
    """Streaming multiprocessors on `device` (cached: the query is not free per launch)."""
    return _sm_count(device.index if device.index is not None else torch.cuda.current_device())


def conv_fp32_precision() -> str:
    """tl.dot input precision for float32 operands: the mode of
    :func:`convkernels.precision.get_fp32_precision` ("ieee", "tf32" or "tf32x3")."""
    return get_fp32_precision()


@triton.jit
def round_to_bf16_rtne(x):
    """fp32 -> fp32 value exactly representable in bf16, rounded to nearest even.

    Only for the interpreter: its fp32 -> bf16 conversion truncates, which would double
    the bf16 error seen in CI. The GPU's cvt already rounds to nearest even.
    """
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return tl.where(x != x, x, bits.to(tl.float32, bitcast=True))


# ---- autotune configs that fit the device --------------------------------------------------

#: fp32 accumulator values per thread above which a tile spills: ptxas gives a thread at most
#: 255 registers, and the operands, addresses and masks need the rest.
MAX_ACC_PER_THREAD = 128


@functools.lru_cache(maxsize=None)
def device_shared_memory(device_index: int) -> int:
    """Shared memory one program may use on this GPU (opt-in maximum, bytes)."""
    props = triton.runtime.driver.active.utils.get_device_properties(device_index)
    return int(props["max_shared_mem"])


def config_fits(cfg, *, smem_bytes: int, acc_elements: int, smem_limit: int) -> bool:
    """Whether a config can launch without spilling: its pipelined operand tiles fit the
    device's shared memory and its fp32 accumulator fits the registers of its threads."""
    threads = 32 * cfg.num_warps
    return smem_bytes <= smem_limit and acc_elements <= MAX_ACC_PER_THREAD * threads


def fit_configs(configs, tile_bytes, acc_elements, device_index: int | None = None):
    """The configs that fit this GPU (see :func:`config_fits`), smallest first if none does.

    ``tile_bytes(cfg)``: bytes of one pipeline stage's operand tiles; ``acc_elements(cfg)``: fp32
    values of the accumulator. Applied in every autotuned kernel's ``early_config_prune``, so a
    config that cannot launch is never tried, let alone reported to a user.
    """
    index = torch.cuda.current_device() if device_index is None else device_index
    limit = device_shared_memory(index)
    kept = [c for c in configs
            if config_fits(c, smem_bytes=c.num_stages * tile_bytes(c),
                           acc_elements=acc_elements(c), smem_limit=limit)]
    return kept or [min(configs, key=lambda c: c.num_stages * tile_bytes(c))]


# ---- index helpers used inside the kernels of several families ----------------------------

@triton.jit
def outer_add(rows, cols, M_FAST: tl.constexpr):
    """rows [BM] (+) cols [BK] -> [BM, BK], or [BK, BM] when M_FAST."""
    if M_FAST:
        return cols[:, None] + rows[None, :]
    else:
        return rows[:, None] + cols[None, :]


@triton.jit
def outer_and(rows, cols, M_FAST: tl.constexpr):
    """rows [BM] & cols [BK] -> [BM, BK], or [BK, BM] when M_FAST."""
    if M_FAST:
        return cols[:, None] & rows[None, :]
    else:
        return rows[:, None] & cols[None, :]


#: Elements per program of the flat elementwise kernels (pool, lrn).
FLAT_BLOCK = 256


@triton.jit
def block_offsets(TOTAL, INDEX_64: tl.constexpr, BLOCK: tl.constexpr):
    """This program's BLOCK flat element offsets (int64 when INDEX_64) and which are < TOTAL."""
    offs = tl.arange(0, BLOCK)
    if INDEX_64:
        offs = offs + tl.program_id(0).to(tl.int64) * BLOCK
    else:
        offs = offs + tl.program_id(0) * BLOCK
    return offs, offs < TOTAL


@triton.jit
def decompose(offs, C, D2, D3, CHANNELS_LAST: tl.constexpr):
    """Flat offsets of a dense [N, C, D2, D3] tensor -> (n, c, d2, d3) in its memory order."""
    if CHANNELS_LAST:
        c = offs % C
        t = offs // C
        d3 = t % D3
        t = t // D3
        d2 = t % D2
        n = t // D2
    else:
        d3 = offs % D3
        t = offs // D3
        d2 = t % D2
        t = t // D2
        c = t % C
        n = t // C
    return n, c, d2, d3
