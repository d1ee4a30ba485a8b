"""Training-mode batch-norm pieces: per-channel moments and the fused normalize step.

channel_moments: each program reduces a chunk of rows (n, h, w) for a block of channels.
Values are first shifted by a per-channel pivot (the channel's first element, the same in
every program): var is shift-invariant, and with |mean - pivot| ~ std the partial means
stay exactly representable even when |mean| >> std (fp32 has ~1e-7 relative resolution,
so unshifted partial means of 1e4 +- 0.01 data would carry 5%-of-std rounding).
Each tile is reduced in registers with the corrected two-pass formula (tile mean, then
sum d^2 - (sum d)^2 / n over deviations d) and merged into the running (count, mean, M2)
with Chan's formula: no E[x^2] - E[x]^2 cancellation anywhere. A second
one-program-per-channel-block kernel merges the [num_chunks, C] partials the same way
and adds the pivot back. Deterministic: no atomics.

scale_shift_relu: out = act(x * scale[c] + shift[c] + residual) in fp32, tiled 2-D so
that index decomposition and the scale/shift loads are paid per row, not per element.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import (
    channels_fastest,
    device_context,
    is_interpreted,
    needs_int64,
    output_memory_format,
    round_to_bf16_rtne,
    sm_count,
)


@triton.jit
def _moments_partial_kernel(
    x_ptr,  # [N, C, H, W] any strides
    pmean_ptr,  # [num_chunks, C] fp32 out: chunk means of x - pivot
    pm2_ptr,  # [num_chunks, C] fp32 out: chunk sums of squared deviations
    C, H, W, L, CHUNK,  # L = N*H*W rows; CHUNK rows per program, a multiple of BLOCK_L
    sx_n, sx_c, sx_h, sx_w,
    CHANNELS_FAST: tl.constexpr,  # tile [BLOCK_L, BLOCK_C] if True else [BLOCK_C, BLOCK_L]
    RED: tl.constexpr,  # the tile's row axis: 0 if CHANNELS_FAST else 1
    INDEX_64: tl.constexpr,
    BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr,
):
    # The memory-contiguous axis goes last in the tile so consecutive threads coalesce.
    pid_chunk = tl.program_id(0)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    rl = tl.arange(0, BLOCK_L)
    if INDEX_64:
        c = c.to(tl.int64)
        rl = rl.to(tl.int64)
        start = pid_chunk.to(tl.int64) * CHUNK
    else:
        start = pid_chunk * CHUNK
    c_ok = c < C
    c_off = c * sx_c
    pivot = tl.load(x_ptr + c_off, mask=c_ok, other=0.0).to(tl.float32)  # x[0, c, 0, 0]
    end = tl.minimum(start + CHUNK, L)
    HW = H * W

    count = 0.0
    mean = tl.zeros((BLOCK_C,), dtype=tl.float32)
    m2 = tl.zeros((BLOCK_C,), dtype=tl.float32)
    for l0 in range(start, end, BLOCK_L):
        row = l0 + rl
        l_ok = row < end
        n = row // HW
        hw = row - n * HW
        h = hw // W
        w = hw - h * W
        row_off = n * sx_n + h * sx_h + w * sx_w
        if CHANNELS_FAST:
            off = row_off[:, None] + c_off[None, :]
            mask = l_ok[:, None] & c_ok[None, :]
        else:
            off = c_off[:, None] + row_off[None, :]
            mask = c_ok[:, None] & l_ok[None, :]
        x = tl.load(x_ptr + off, mask=mask, other=0.0).to(tl.float32)
        x = tl.where(mask, x - tl.expand_dims(pivot, RED), 0.0)
        nb = tl.minimum(end - l0, BLOCK_L).to(tl.float32)
        b_mean = tl.sum(x, axis=RED) / nb
        d = tl.where(mask, x - tl.expand_dims(b_mean, RED), 0.0)
        d_sum = tl.sum(d, axis=RED)
        b_m2 = tl.sum(d * d, axis=RED) - d_sum * d_sum / nb
        b_mean = b_mean + d_sum / nb
        tot = count + nb
        delta = b_mean - mean
        mean = mean + delta * (nb / tot)
        m2 = m2 + b_m2 + delta * delta * (count * nb / tot)
        count = tot
    out = pid_chunk * C + c
    tl.store(pmean_ptr + out, mean, mask=c_ok)
    tl.store(pm2_ptr + out, m2, mask=c_ok)


@triton.jit
def _moments_combine_kernel(
    x_ptr,  # [N, C, H, W] any strides: only the pivots x[0, c, 0, 0] are read
    pmean_ptr,  # [num_chunks, C] fp32, means of x - pivot
    pm2_ptr,  # [num_chunks, C] fp32
    mean_ptr,  # [C] fp32 out
    var_ptr,  # [C] fp32 out, biased
    C, L, CHUNK, NUM_CHUNKS, sx_c,
    BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    pivot = tl.load(x_ptr + c.to(tl.int64) * sx_c, mask=c_ok, other=0.0).to(tl.float32)
    rp = tl.arange(0, BLOCK_P)
    count = 0.0
    mean = tl.zeros((BLOCK_C,), dtype=tl.float32)
    m2 = tl.zeros((BLOCK_C,), dtype=tl.float32)
    for p0 in range(0, NUM_CHUNKS, BLOCK_P):
        p = p0 + rp
        p_ok = p < NUM_CHUNKS
        # Chunk sizes are implied by the launch: all CHUNK rows but the last.
        cnt = tl.where(p_ok, tl.minimum(L - p.to(tl.int64) * CHUNK, CHUNK), 0).to(tl.float32)
        mask = p_ok[:, None] & c_ok[None, :]
        off = p.to(tl.int64)[:, None] * C + c[None, :]
        pm = tl.load(pmean_ptr + off, mask=mask, other=0.0)
        pq = tl.load(pm2_ptr + off, mask=mask, other=0.0)
        nb = tl.sum(cnt, axis=0)
        b_mean = tl.sum(tl.where(mask, cnt[:, None] * pm, 0.0), axis=0) / nb
        d = pm - b_mean[None, :]
        b_m2 = tl.sum(tl.where(mask, pq + cnt[:, None] * d * d, 0.0), axis=0)
        tot = count + nb
        delta = b_mean - mean
        mean = mean + delta * (nb / tot)
        m2 = m2 + b_m2 + delta * delta * (count * nb / tot)
        count = tot
    tl.store(mean_ptr + c, pivot + mean, mask=c_ok)
    tl.store(var_ptr + c, m2 / count, mask=c_ok)


def channel_moments(input):
    """Per-channel mean and biased variance over (N, H, W): two float32 [C] tensors.

    Like torch.var_mean(unbiased=False), an empty reduction (N*H*W == 0) gives NaN.
    """
    N, C, H, W = input.shape
    L = N * H * W
    dev = input.device
    if C == 0 or L == 0:
        nan = torch.full((C,), float("nan"), dtype=torch.float32, device=dev)
        return nan, nan.clone()
    interp = is_interpreted(_moments_partial_kernel)
    c_fast = channels_fastest(input)
    if c_fast:
        block_c = min(triton.next_power_of_2(C), 64)
        block_l = max(16, min(256, 4096 // block_c))
    else:
        block_c = min(triton.next_power_of_2(C), 4)
        block_l = max(16, min(1024, 4096 // block_c))
    if interp:  # tiny tiles: several tiles and chunks per channel even on small inputs
        block_l = 16
    c_blocks = triton.cdiv(C, block_c)
    l_tiles = triton.cdiv(L, block_l)
    # Enough chunks to fill the GPU (~8 programs per SM) without shrinking chunks below a tile.
    if interp:
        target = 4
    else:
        target = 8 * sm_count(dev)
    num_chunks = max(1, min(l_tiles, triton.cdiv(target, c_blocks)))
    chunk = triton.cdiv(l_tiles, num_chunks) * block_l
    num_chunks = triton.cdiv(L, chunk)  # chunks on grid axis 0 (2^31 - 1 limit)
    pmean = torch.empty((num_chunks, C), dtype=torch.float32, device=dev)
    pm2 = torch.empty((num_chunks, C), dtype=torch.float32, device=dev)
    mean = torch.empty((C,), dtype=torch.float32, device=dev)
    var = torch.empty((C,), dtype=torch.float32, device=dev)
    with device_context(input, interp):
        _moments_partial_kernel[(num_chunks, c_blocks)](
            input, pmean, pm2, C, H, W, L, chunk, *input.stride(),
            CHANNELS_FAST=c_fast, RED=0 if c_fast else 1,
            INDEX_64=needs_int64(input) or L + chunk >= 2**31,
            BLOCK_L=block_l, BLOCK_C=block_c, num_warps=8,
        )
        cb = min(triton.next_power_of_2(C), 128)
        _moments_combine_kernel[(triton.cdiv(C, cb),)](
            input, pmean, pm2, mean, var, C, L, chunk, num_chunks, input.stride(1),
            BLOCK_P=2 if interp else 32, BLOCK_C=cb, num_warps=4,
        )
    return mean, var


@triton.jit
def _scale_shift_relu_kernel(
    x_ptr,  # [N, C, H, W] any strides
    scale_ptr,  # [C] fp32
    shift_ptr,  # [C] fp32
    res_ptr,  # [N, C, H, W] any strides, read iff HAS_RESIDUAL
    out_ptr,  # [N, C, H, W] dense: channels_last if CHANNELS_LAST else NCHW
    C, H, W, ROWS, COLS,  # the output as a dense [ROWS, COLS] matrix
    sx_n, sx_c, sx_h, sx_w,
    sr_n, sr_c, sr_h, sr_w,
    # rows = pixels (n, h, w) and cols = c if CHANNELS_LAST, else rows = (n, c), cols = (h, w)
    CHANNELS_LAST: tl.constexpr,
    X_DENSE: tl.constexpr,  # input has the output's dense layout: reuse its (vectorizable) offsets
    RES_DENSE: tl.constexpr,
    HAS_RESIDUAL: tl.constexpr, RELU: tl.constexpr,
    INDEX_64: tl.constexpr, BF16_RTNE: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_COL: tl.constexpr,
):
    pid = tl.program_id(0)
    col_blocks = tl.cdiv(COLS, BLOCK_COL)
    pid_r = pid // col_blocks
    pid_c = pid - pid_r * col_blocks
    rows = tl.arange(0, BLOCK_R)
    cols = pid_c * BLOCK_COL + tl.arange(0, BLOCK_COL)
    if INDEX_64:
        rows = rows + pid_r.to(tl.int64) * BLOCK_R
        cols = cols.to(tl.int64)
    else:
        rows = rows + pid_r * BLOCK_R
    mask = (rows < ROWS)[:, None] & (cols < COLS)[None, :]
    dense = rows[:, None] * COLS + cols[None, :]
    if CHANNELS_LAST:
        HW = H * W
        n = rows // HW
        hw = rows - n * HW
        h = hw // W
        w = hw - h * W
        ch = cols
        x_off = (n * sx_n + h * sx_h + w * sx_w)[:, None] + (ch * sx_c)[None, :]
        r_off = (n * sr_n + h * sr_h + w * sr_w)[:, None] + (ch * sr_c)[None, :]
        c_ok = ch < C
        scale = tl.load(scale_ptr + ch, mask=c_ok, other=0.0).to(tl.float32)[None, :]
        shift = tl.load(shift_ptr + ch, mask=c_ok, other=0.0).to(tl.float32)[None, :]
    else:
        n = rows // C
        ch = rows - n * C
        h = cols // W
        w = cols - h * W
        x_off = (n * sx_n + ch * sx_c)[:, None] + (h * sx_h + w * sx_w)[None, :]
        r_off = (n * sr_n + ch * sr_c)[:, None] + (h * sr_h + w * sr_w)[None, :]
        c_ok = rows < ROWS
        scale = tl.load(scale_ptr + ch, mask=c_ok, other=0.0).to(tl.float32)[:, None]
        shift = tl.load(shift_ptr + ch, mask=c_ok, other=0.0).to(tl.float32)[:, None]
    if X_DENSE:
        x_off = dense
    x = tl.load(x_ptr + x_off, mask=mask, other=0.0).to(tl.float32)
    y = x * scale + shift
    if HAS_RESIDUAL:
        if RES_DENSE:
            r_off = dense
        y = y + tl.load(res_ptr + r_off, mask=mask, other=0.0).to(tl.float32)
    if RELU:
        y = tl.where(y < 0.0, 0.0, y)  # keeps NaN, as torch.relu does
    if BF16_RTNE:
        y = round_to_bf16_rtne(y)
    tl.store(out_ptr + dense, y.to(out_ptr.dtype.element_ty), mask=mask)


def scale_shift_relu(input, scale, shift, residual, relu):
    """act(input * scale[c] + shift[c] + residual), fp32 math, input's dtype and memory format."""
    N, C, H, W = input.shape
    fmt = output_memory_format(input)
    out = torch.empty_like(input, memory_format=fmt)
    if out.numel() == 0:
        return out
    if residual is not None and residual.shape != input.shape:
        raise ValueError(f"scale_shift_relu (triton): residual shape {tuple(residual.shape)} "
                         f"!= input shape {tuple(input.shape)}")
    channels_last = fmt == torch.channels_last
    if channels_last:
        rows, cols = N * H * W, C
        block_col = min(triton.next_power_of_2(C), 128)
    else:
        rows, cols = N * C, H * W
        block_col = min(triton.next_power_of_2(H * W), 1024)
    block_r = max(1, 2048 // block_col)
    interp = is_interpreted(_scale_shift_relu_kernel)
    # "Dense" = same strides as the freshly allocated output (size-1 dims may differ).
    x_dense = input.is_contiguous(memory_format=fmt)
    res_dense = residual is not None and residual.is_contiguous(memory_format=fmt)
    grid = (triton.cdiv(rows, block_r) * triton.cdiv(cols, block_col),)
    with device_context(input, interp):
        _scale_shift_relu_kernel[grid](
            input, scale.contiguous(), shift.contiguous(),
            residual if residual is not None else out, out,
            C, H, W, rows, cols,
            *input.stride(),
            *(residual.stride() if residual is not None else (0, 0, 0, 0)),
            CHANNELS_LAST=channels_last, X_DENSE=x_dense, RES_DENSE=res_dense,
            HAS_RESIDUAL=residual is not None, RELU=bool(relu),
            INDEX_64=needs_int64(input, residual, out),
            BF16_RTNE=interp and input.dtype == torch.bfloat16,
            BLOCK_R=block_r, BLOCK_COL=block_col, num_warps=4,
        )
    return out
