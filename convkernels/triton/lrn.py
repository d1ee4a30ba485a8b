"""Local response normalization in Triton, forward, backward and fused with max-pooling.

torch's definition (F.local_response_norm), with c's window W(c) = [c - size//2,
c + (size-1)//2] clipped to [0, C) (zero padding):

    s_c = k + alpha / size * sum_{c' in W(c)} x_{c'}^2,     y_c = x_c * s_c^-beta
    dx_j = g_j s_j^-beta - (2 alpha beta / size) x_j sum_{c : j in W(c)} g_c x_c s_c^(-beta-1)

and j is in W(c) exactly when c is in [j - (size-1)//2, j + size//2]. Each program takes
BLOCK elements in the output's memory order; the neighbours along C are re-read through the
cache (in channels_last they are the same or adjacent lines), so DRAM sees one read of x
(and of g) and one write. The backward recomputes s_c from x instead of saving it.
Powers are exp2(-beta * log2(s)) in fp32, and exactly 1 for a zero exponent (beta = 0 with
an infinite s gives x, as torch does); s >= k > 0 in every use that matters (torch gives
inf/NaN for k = 0 and x = 0 in the same places).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import (
    FLAT_BLOCK,
    block_offsets,
    decompose,
    device_context,
    is_interpreted,
    needs_int64,
    output_memory_format,
)


@triton.jit
def _pow(s, e):
    # pow(s, 0) is 1 for every s, inf and NaN included (torch's pow), where exp2(0 * log2(s))
    # would be NaN.
    return tl.where(e == 0.0, 1.0, tl.exp2(e * tl.log2(s)))


@triton.jit
def _scale(x_ptr, base, c, sx_c, C, live, SIZE, alpha_over_size, k):
    """s_c = k + alpha/size * sum of x^2 over c's window (zero padded), fp32."""
    acc = tl.zeros(c.shape, tl.float32)
    for t in range(SIZE):
        cc = c - SIZE // 2 + t
        ok = live & (cc >= 0) & (cc < C)
        v = tl.load(x_ptr + base + cc * sx_c, mask=ok, other=0.0).to(tl.float32)
        acc += v * v
    return k + alpha_over_size * acc


@triton.jit
def _lrn_fwd_kernel(
    x_ptr,  # [N, C, H, W] any strides
    out_ptr,  # [N, C, H, W] dense (channels_last iff CHANNELS_LAST)
    TOTAL, C, H, W, sx_n, sx_c, sx_h, sx_w,
    SIZE, alpha_over_size, beta, k,
    CHANNELS_LAST: tl.constexpr, INDEX_64: tl.constexpr, BLOCK: tl.constexpr,
):
    offs, live = block_offsets(TOTAL, INDEX_64, BLOCK)
    n, c, h, w = decompose(offs, C, H, W, CHANNELS_LAST)
    base = n * sx_n + h * sx_h + w * sx_w
    x = tl.load(x_ptr + base + c * sx_c, mask=live, other=0.0).to(tl.float32)
    s = _scale(x_ptr, base, c, sx_c, C, live, SIZE, alpha_over_size, k)
    tl.store(out_ptr + offs, (x * _pow(s, -beta)).to(out_ptr.dtype.element_ty), mask=live)


@triton.jit
def _lrn_bwd_kernel(
    g_ptr,  # [N, C, H, W] any strides: gradient of the output
    x_ptr,  # [N, C, H, W] any strides: the forward's input
    gx_ptr,  # [N, C, H, W] dense (channels_last iff CHANNELS_LAST)
    TOTAL, C, H, W, sg_n, sg_c, sg_h, sg_w, sx_n, sx_c, sx_h, sx_w,
    SIZE, alpha_over_size, beta, k,
    CHANNELS_LAST: tl.constexpr, INDEX_64: tl.constexpr, BLOCK: tl.constexpr,
):
    offs, live = block_offsets(TOTAL, INDEX_64, BLOCK)
    n, j, h, w = decompose(offs, C, H, W, CHANNELS_LAST)
    xb = n * sx_n + h * sx_h + w * sx_w
    gb = n * sg_n + h * sg_h + w * sg_w
    x_j = tl.load(x_ptr + xb + j * sx_c, mask=live, other=0.0).to(tl.float32)
    g_j = tl.load(g_ptr + gb + j * sg_c, mask=live, other=0.0).to(tl.float32)
    s_j = _scale(x_ptr, xb, j, sx_c, C, live, SIZE, alpha_over_size, k)
    cross = tl.zeros((BLOCK,), tl.float32)
    for t in range(SIZE):
        c = j - (SIZE - 1) // 2 + t
        ok = live & (c >= 0) & (c < C)
        x_c = tl.load(x_ptr + xb + c * sx_c, mask=ok, other=0.0).to(tl.float32)
        g_c = tl.load(g_ptr + gb + c * sg_c, mask=ok, other=0.0).to(tl.float32)
        s_c = _scale(x_ptr, xb, c, sx_c, C, ok, SIZE, alpha_over_size, k)
        cross += tl.where(ok, g_c * x_c * _pow(s_c, -beta - 1.0), 0.0)
    gx = g_j * _pow(s_j, -beta) - 2.0 * alpha_over_size * beta * x_j * cross
    tl.store(gx_ptr + offs, gx.to(gx_ptr.dtype.element_ty), mask=live)


@triton.jit
def _lrn_max_pool_kernel(
    x_ptr,  # [N, C, H, W] any strides
    out_ptr,  # [N, C, OH, OW] dense (channels_last iff CHANNELS_LAST)
    idx_ptr,  # [N, C, OH, OW] int64 like out, written iff WRITE_INDICES
    TOTAL, C, H, W, OH, OW, sx_n, sx_c, sx_h, sx_w,
    KH, KW, SH, SW, PH, PW, DH, DW,
    SIZE, alpha_over_size, beta, k,
    POOL_FIRST: tl.constexpr, WRITE_INDICES: tl.constexpr, CHANNELS_LAST: tl.constexpr,
    INDEX_64: tl.constexpr, BLOCK: tl.constexpr,
):
    """LRN then max-pool (indices into the LRN output plane), or max-pool then LRN (the LRN
    window runs over the pooled values of the neighbouring channels)."""
    offs, live = block_offsets(TOTAL, INDEX_64, BLOCK)
    n, c, oh, ow = decompose(offs, C, OH, OW, CHANNELS_LAST)
    h0 = oh * SH - PH
    w0 = ow * SW - PW
    best = tl.full((BLOCK,), float("-inf"), tl.float32)
    best_idx = tl.full((BLOCK,), -1, tl.int64)
    if POOL_FIRST:
        sumsq = tl.zeros((BLOCK,), tl.float32)
        for t in range(SIZE):
            cc = c - SIZE // 2 + t
            c_ok = live & (cc >= 0) & (cc < C)
            m = tl.full((BLOCK,), float("-inf"), tl.float32)
            m_idx = tl.full((BLOCK,), -1, tl.int64)
            for i in range(KH):
                h = h0 + i * DH
                for jj in range(KW):
                    w = w0 + jj * DW
                    ok = c_ok & (h >= 0) & (h < H) & (w >= 0) & (w < W)
                    v = tl.load(x_ptr + n * sx_n + cc * sx_c + h * sx_h + w * sx_w, mask=ok,
                                other=float("-inf")).to(tl.float32)
                    take = ok & ((v > m) | (v != v) | (m_idx < 0))
                    m = tl.where(take, v, m)
                    m_idx = tl.where(take, (h * W + w).to(tl.int64), m_idx)
            sumsq += tl.where(c_ok, m * m, 0.0)
            center = t == SIZE // 2
            best = tl.where(center, m, best)
            best_idx = tl.where(center, m_idx, best_idx)
        y = best * _pow(k + alpha_over_size * sumsq, -beta)
    else:
        base_n = n * sx_n
        for i in range(KH):
            h = h0 + i * DH
            for jj in range(KW):
                w = w0 + jj * DW
                ok = live & (h >= 0) & (h < H) & (w >= 0) & (w < W)
                base = base_n + h * sx_h + w * sx_w
                xv = tl.load(x_ptr + base + c * sx_c, mask=ok, other=0.0).to(tl.float32)
                s = _scale(x_ptr, base, c, sx_c, C, ok, SIZE, alpha_over_size, k)
                v = tl.where(ok, xv * _pow(s, -beta), float("-inf"))
                take = ok & ((v > best) | (v != v) | (best_idx < 0))
                best = tl.where(take, v, best)
                best_idx = tl.where(take, (h * W + w).to(tl.int64), best_idx)
        y = best
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=live)
    if WRITE_INDICES:
        tl.store(idx_ptr + offs, best_idx, mask=live)


def _grid(numel):
    return (triton.cdiv(numel, FLAT_BLOCK),)


def local_response_norm(x, size, alpha, beta, k, force_int64=False):
    N, C, H, W = x.shape
    fmt = output_memory_format(x)
    out = torch.empty_like(x, memory_format=fmt)
    if out.numel() == 0:
        return out
    interp = is_interpreted(_lrn_fwd_kernel)
    with device_context(x, interp):
        _lrn_fwd_kernel[_grid(out.numel())](
            x, out, out.numel(), C, H, W, *x.stride(), size, alpha / size, beta, k,
            CHANNELS_LAST=fmt == torch.channels_last,
            INDEX_64=force_int64 or needs_int64(x, out), BLOCK=FLAT_BLOCK, num_warps=4)
    return out


def local_response_norm_backward(grad, x, size, alpha, beta, k, force_int64=False):
    N, C, H, W = x.shape
    fmt = output_memory_format(grad)
    gx = torch.empty(x.shape, dtype=grad.dtype, device=grad.device, memory_format=fmt)
    if gx.numel() == 0:
        return gx
    interp = is_interpreted(_lrn_bwd_kernel)
    with device_context(x, interp):
        _lrn_bwd_kernel[_grid(gx.numel())](
            grad, x, gx, gx.numel(), C, H, W, *grad.stride(), *x.stride(),
            size, alpha / size, beta, k, CHANNELS_LAST=fmt == torch.channels_last,
            INDEX_64=force_int64 or needs_int64(grad, x, gx), BLOCK=FLAT_BLOCK, num_warps=4)
    return gx


def lrn_max_pool2d(x, size, alpha, beta, k, kernel, stride, padding, dilation, OH, OW,
                   pool_first, return_indices, force_int64=False):
    N, C, H, W = x.shape
    fmt = output_memory_format(x)
    out = torch.empty((N, C, OH, OW), dtype=x.dtype, device=x.device, memory_format=fmt)
    idx = (torch.empty((N, C, OH, OW), dtype=torch.int64, device=x.device, memory_format=fmt)
           if return_indices else torch.empty((0,), dtype=torch.int64, device=x.device))
    if out.numel() == 0:
        return out, idx
    interp = is_interpreted(_lrn_max_pool_kernel)
    with device_context(x, interp):
        _lrn_max_pool_kernel[_grid(out.numel())](
            x, out, idx if return_indices else out, out.numel(), C, H, W, OH, OW, *x.stride(),
            *kernel, *stride, *padding, *dilation, size, alpha / size, beta, k,
            POOL_FIRST=pool_first, WRITE_INDICES=return_indices,
            CHANNELS_LAST=fmt == torch.channels_last,
            INDEX_64=force_int64 or needs_int64(x, out, idx), BLOCK=FLAT_BLOCK, num_warps=4)
    return out, idx
