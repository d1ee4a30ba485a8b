"""Pooling in Triton: max (with indices), average and adaptive windows, forward and backward,
and max-unpooling.

One forward kernel covers every window kind: a program takes BLOCK outputs in the output's
memory order (so stores coalesce, and in channels_last consecutive lanes read consecutive
channels of the same pixel) and walks the KH x KW taps, masking those in the padding.
Fixed windows start at o*stride - pad with taps every `dilation`; adaptive windows are
[floor(o*I/O), ceil((o+1)*I/O)) as in torch, KH/KW then bound their length.

Backward is a gather, never a scatter: a program takes BLOCK *input* elements and each
visits the outputs whose window covers it (fixed: tap i covers h when h + pad - i*dil is a
multiple of stride; adaptive: outputs [floor(h*O/I), ceil((h+1)*O/I))). Max-pool compares
the saved index with the element's own h*W + w. No atomics, so it is deterministic, and the
accumulation order is fixed (fp32).

Max-pool NaN rule, as torch: a tap replaces the running max when it is greater or NaN, so a
NaN wins (the last NaN in scan order gives the index); ties keep the first tap.
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
def _pool_fwd_kernel(
    x_ptr,  # [N, C, H, W] any strides
    out_ptr,  # [N, C, OH, OW] dense (channels_last iff CHANNELS_LAST)
    idx_ptr,  # [N, C, OH, OW] int64, dense like out; written iff WRITE_INDICES
    TOTAL, C, H, W, OH, OW,
    sx_n, sx_c, sx_h, sx_w,
    KH, KW, SH, SW, PH, PW, DH, DW,  # ADAPTIVE: KH, KW bound the window length
    DIVISOR,  # avg: divisor_override, or 0
    IS_MAX: tl.constexpr, ADAPTIVE: tl.constexpr, COUNT_INCLUDE_PAD: tl.constexpr,
    WRITE_INDICES: tl.constexpr, CHANNELS_LAST: tl.constexpr, INDEX_64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, live = block_offsets(TOTAL, INDEX_64, BLOCK)
    n, c, oh, ow = decompose(offs, C, OH, OW, CHANNELS_LAST)
    base = n * sx_n + c * sx_c
    if ADAPTIVE:
        h0 = (oh * H) // OH
        h_len = ((oh + 1) * H + OH - 1) // OH - h0
        w0 = (ow * W) // OW
        w_len = ((ow + 1) * W + OW - 1) // OW - w0
        step_h = 1
        step_w = 1
    else:
        h0 = oh * SH - PH
        w0 = ow * SW - PW
        step_h = DH
        step_w = DW
    if IS_MAX:
        best = tl.full((BLOCK,), float("-inf"), tl.float32)
        best_idx = tl.full((BLOCK,), -1, tl.int64)
    else:
        acc = tl.zeros((BLOCK,), tl.float32)
    for i in range(KH):
        h = h0 + i * step_h
        h_ok = live & (h >= 0) & (h < H)
        if ADAPTIVE:
            h_ok = h_ok & (h_len > i)
        for j in range(KW):
            w = w0 + j * step_w
            ok = h_ok & (w >= 0) & (w < W)
            if ADAPTIVE:
                ok = ok & (w_len > j)
            if IS_MAX:
                v = tl.load(x_ptr + base + h * sx_h + w * sx_w, mask=ok,
                            other=float("-inf")).to(tl.float32)
                take = ok & ((v > best) | (v != v) | (best_idx < 0))
                best = tl.where(take, v, best)
                best_idx = tl.where(take, (h * W + w).to(tl.int64), best_idx)
            else:
                acc += tl.load(x_ptr + base + h * sx_h + w * sx_w, mask=ok,
                               other=0.0).to(tl.float32)
    if IS_MAX:
        tl.store(out_ptr + offs, best.to(out_ptr.dtype.element_ty), mask=live)
        if WRITE_INDICES:
            tl.store(idx_ptr + offs, best_idx, mask=live)
    else:
        if ADAPTIVE:
            div = (h_len * w_len).to(tl.float32)
        else:
            div = _avg_divisor(h0, w0, H, W, KH, KW, PH, PW, DIVISOR, COUNT_INCLUDE_PAD)
        tl.store(out_ptr + offs, (acc / div).to(out_ptr.dtype.element_ty), mask=live)


@triton.jit
def _avg_divisor(h0, w0, H, W, KH, KW, PH, PW, DIVISOR, COUNT_INCLUDE_PAD: tl.constexpr):
    """torch's avg_pool2d divisor of the window starting at (h0, w0), as fp32."""
    if DIVISOR > 0:
        div = tl.zeros_like(h0).to(tl.float32) + DIVISOR
    else:
        h1 = tl.minimum(h0 + KH, H + PH)
        w1 = tl.minimum(w0 + KW, W + PW)
        if COUNT_INCLUDE_PAD:
            div = ((h1 - h0) * (w1 - w0)).to(tl.float32)
        else:
            hc = tl.minimum(h1, H) - tl.maximum(h0, 0)
            wc = tl.minimum(w1, W) - tl.maximum(w0, 0)
            div = (hc * wc).to(tl.float32)
    return div


@triton.jit
def _pool_bwd_kernel(
    g_ptr,  # [N, C, OH, OW] any strides: gradient of the output
    idx_ptr,  # [N, C, OH, OW] int64 any strides (max only)
    gx_ptr,  # [N, C, H, W] dense (channels_last iff CHANNELS_LAST): gradient of the input
    TOTAL, C, H, W, OH, OW,
    sg_n, sg_c, sg_h, sg_w,
    si_n, si_c, si_h, si_w,
    KH, KW, SH, SW, PH, PW, DH, DW,  # ADAPTIVE: KH, KW bound the outputs covering one input
    DIVISOR,
    IS_MAX: tl.constexpr, ADAPTIVE: tl.constexpr, COUNT_INCLUDE_PAD: tl.constexpr,
    CHANNELS_LAST: tl.constexpr, INDEX_64: tl.constexpr, BLOCK: tl.constexpr,
):
    offs, live = block_offsets(TOTAL, INDEX_64, BLOCK)
    n, c, h, w = decompose(offs, C, H, W, CHANNELS_LAST)
    g_base = n * sg_n + c * sg_c
    i_base = n * si_n + c * si_c
    me = (h * W + w).to(tl.int64)
    acc = tl.zeros((BLOCK,), tl.float32)
    if ADAPTIVE:
        oh_lo = (h * OH) // H
        oh_hi = ((h + 1) * OH + H - 1) // H
        ow_lo = (w * OW) // W
        ow_hi = ((w + 1) * OW + W - 1) // W
    for i in range(KH):
        if ADAPTIVE:
            oh = oh_lo + i
            oh_ok = oh < oh_hi
        else:
            num_h = h + PH - i * DH
            oh = num_h // SH
            oh_ok = (num_h >= 0) & (oh * SH == num_h) & (oh < OH)
        for j in range(KW):
            if ADAPTIVE:
                ow = ow_lo + j
                ok = live & oh_ok & (ow < ow_hi)
            else:
                num_w = w + PW - j * DW
                ow = num_w // SW
                ok = live & oh_ok & (num_w >= 0) & (ow * SW == num_w) & (ow < OW)
            g = tl.load(g_ptr + g_base + oh * sg_h + ow * sg_w, mask=ok, other=0.0)
            g = g.to(tl.float32)
            if IS_MAX:
                win = tl.load(idx_ptr + i_base + oh * si_h + ow * si_w, mask=ok, other=-1)
                acc += tl.where(ok & (win == me), g, 0.0)
            else:
                if ADAPTIVE:
                    hs = (oh * H) // OH
                    he = ((oh + 1) * H + OH - 1) // OH
                    ws = (ow * W) // OW
                    we = ((ow + 1) * W + OW - 1) // OW
                    div = ((he - hs) * (we - ws)).to(tl.float32)
                else:
                    div = _avg_divisor(oh * SH - PH, ow * SW - PW, H, W, KH, KW, PH, PW,
                                       DIVISOR, COUNT_INCLUDE_PAD)
                acc += tl.where(ok, g / div, 0.0)
    tl.store(gx_ptr + offs, acc.to(gx_ptr.dtype.element_ty), mask=live)


def _launch_fwd(x, OH, OW, kernel, stride, padding, dilation, *, is_max, adaptive,
                count_include_pad=True, divisor=0, write_indices=False, force_int64=False):
    N, C, H, W = x.shape
    fmt = output_memory_format(x)
    out = torch.empty((N, C, OH, OW), dtype=x.dtype, device=x.device, memory_format=fmt)
    idx = (torch.empty((N, C, OH, OW), dtype=torch.int64, device=x.device, memory_format=fmt)
           if write_indices else torch.empty((0,), dtype=torch.int64, device=x.device))
    if out.numel() == 0:
        return out, idx
    interp = is_interpreted(_pool_fwd_kernel)
    with device_context(x, interp):
        _pool_fwd_kernel[(triton.cdiv(out.numel(), FLAT_BLOCK),)](
            x, out, idx if write_indices else out, out.numel(), C, H, W, OH, OW, *x.stride(),
            *kernel, *stride, *padding, *dilation, divisor,
            IS_MAX=is_max, ADAPTIVE=adaptive, COUNT_INCLUDE_PAD=count_include_pad,
            WRITE_INDICES=write_indices, CHANNELS_LAST=fmt == torch.channels_last,
            INDEX_64=force_int64 or needs_int64(x, out, idx), BLOCK=FLAT_BLOCK, num_warps=4)
    return out, idx


def _launch_bwd(grad, indices, H, W, kernel, stride, padding, dilation, *, is_max, adaptive,
                count_include_pad=True, divisor=0, force_int64=False):
    N, C, OH, OW = grad.shape
    fmt = output_memory_format(grad)
    gx = torch.empty((N, C, H, W), dtype=grad.dtype, device=grad.device, memory_format=fmt)
    if gx.numel() == 0:
        return gx
    if grad.numel() == 0:
        return gx.zero_()
    idx = indices if is_max else grad
    interp = is_interpreted(_pool_bwd_kernel)
    with device_context(grad, interp):
        _pool_bwd_kernel[(triton.cdiv(gx.numel(), FLAT_BLOCK),)](
            grad, idx, gx, gx.numel(), C, H, W, OH, OW, *grad.stride(), *idx.stride(),
            *kernel, *stride, *padding, *dilation, divisor,
            IS_MAX=is_max, ADAPTIVE=adaptive, COUNT_INCLUDE_PAD=count_include_pad,
            CHANNELS_LAST=fmt == torch.channels_last,
            INDEX_64=force_int64 or needs_int64(grad, idx, gx), BLOCK=FLAT_BLOCK, num_warps=4)
    return gx


def adaptive_window_bound(size_in: int, size_out: int) -> int:
    """Longest adaptive window along one axis (also the most outputs covering one input when
    size_out > size_in, with the roles swapped)."""
    return max(-(-(o + 1) * size_in // size_out) - (o * size_in) // size_out
               for o in range(size_out))


# ---- launchers, one per primitive (arguments as in csrc/ops/pool.cpp) -----------------------

def max_pool2d(x, kernel, stride, padding, dilation, OH, OW, return_indices, force_int64=False):
    return _launch_fwd(x, OH, OW, kernel, stride, padding, dilation, is_max=True,
                       adaptive=False, write_indices=return_indices, force_int64=force_int64)


def max_pool2d_backward(grad, indices, H, W, kernel, stride, padding, dilation,
                        force_int64=False):
    return _launch_bwd(grad, indices, H, W, kernel, stride, padding, dilation, is_max=True,
                       adaptive=False, force_int64=force_int64)


def avg_pool2d(x, kernel, stride, padding, OH, OW, count_include_pad, divisor,
               force_int64=False):
    return _launch_fwd(x, OH, OW, kernel, stride, padding, (1, 1), is_max=False,
                       adaptive=False, count_include_pad=count_include_pad, divisor=divisor,
                       force_int64=force_int64)[0]


def avg_pool2d_backward(grad, H, W, kernel, stride, padding, count_include_pad, divisor,
                        force_int64=False):
    return _launch_bwd(grad, None, H, W, kernel, stride, padding, (1, 1), is_max=False,
                       adaptive=False, count_include_pad=count_include_pad, divisor=divisor,
                       force_int64=force_int64)


def adaptive_pool2d(x, OH, OW, is_max, return_indices, force_int64=False):
    H, W = x.shape[2], x.shape[3]
    bound = (adaptive_window_bound(H, OH), adaptive_window_bound(W, OW))
    return _launch_fwd(x, OH, OW, bound, (1, 1), (0, 0), (1, 1), is_max=is_max, adaptive=True,
                       write_indices=return_indices, force_int64=force_int64)


def adaptive_pool2d_backward(grad, indices, H, W, is_max, force_int64=False):
    OH, OW = grad.shape[2], grad.shape[3]
    bound = (adaptive_window_bound(OH, H), adaptive_window_bound(OW, W))
    return _launch_bwd(grad, indices, H, W, bound, (1, 1), (0, 0), (1, 1), is_max=is_max,
                       adaptive=True, force_int64=force_int64)


# ---- max-unpool: a scatter through the switches forward, the matching gather backward -------

@triton.jit
def _unpool_kernel(
    src_ptr,  # forward: x [N, C, H, W]; backward: gx [N, C, H, W] out (dense like idx order)
    idx_ptr,  # [N, C, H, W] int64 any strides: h*OW + w in the [OH, OW] plane
    dst_ptr,  # forward: out [N, C, OH, OW] (zeroed); backward: grad [N, C, OH, OW]
    TOTAL, C, H, W, OW,
    ss_n, ss_c, ss_h, ss_w,  # src strides (forward) / unused (backward writes dense)
    si_n, si_c, si_h, si_w,
    sd_n, sd_c, sd_h, sd_w,
    BACKWARD: tl.constexpr, CHANNELS_LAST: tl.constexpr, INDEX_64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, live = block_offsets(TOTAL, INDEX_64, BLOCK)
    n, c, h, w = decompose(offs, C, H, W, CHANNELS_LAST)
    where = tl.load(idx_ptr + n * si_n + c * si_c + h * si_h + w * si_w, mask=live, other=0)
    oh = where // OW
    ow = where - oh * OW
    if not INDEX_64:
        oh = oh.to(tl.int32)
        ow = ow.to(tl.int32)
    d_off = n * sd_n + c * sd_c + oh * sd_h + ow * sd_w
    if BACKWARD:
        g = tl.load(dst_ptr + d_off, mask=live, other=0.0)
        tl.store(src_ptr + offs, g, mask=live)
    else:
        v = tl.load(src_ptr + n * ss_n + c * ss_c + h * ss_h + w * ss_w, mask=live)
        tl.store(dst_ptr + d_off, v, mask=live)


def max_unpool2d(x, indices, OH, OW, force_int64=False):
    """Indices must be in [0, OH*OW) (the op checks); duplicates keep one of the values."""
    N, C, H, W = x.shape
    fmt = output_memory_format(x)
    out = torch.empty((N, C, OH, OW), dtype=x.dtype, device=x.device, memory_format=fmt)
    out.zero_()
    if x.numel() == 0:
        return out
    interp = is_interpreted(_unpool_kernel)
    with device_context(x, interp):
        _unpool_kernel[(triton.cdiv(x.numel(), FLAT_BLOCK),)](
            x, indices, out, x.numel(), C, H, W, OW, *x.stride(), *indices.stride(),
            *out.stride(), BACKWARD=False, CHANNELS_LAST=fmt == torch.channels_last,
            INDEX_64=force_int64 or needs_int64(x, indices, out), BLOCK=FLAT_BLOCK, num_warps=4)
    return out


def max_unpool2d_backward(grad, indices, force_int64=False):
    N, C, H, W = indices.shape
    fmt = output_memory_format(grad)
    gx = torch.empty((N, C, H, W), dtype=grad.dtype, device=grad.device, memory_format=fmt)
    if gx.numel() == 0:
        return gx
    OW = grad.shape[3]
    interp = is_interpreted(_unpool_kernel)
    with device_context(grad, interp):
        _unpool_kernel[(triton.cdiv(gx.numel(), FLAT_BLOCK),)](
            gx, indices, grad, gx.numel(), C, H, W, OW, 0, 0, 0, 0, *indices.stride(),
            *grad.stride(), BACKWARD=True, CHANNELS_LAST=fmt == torch.channels_last,
            INDEX_64=force_int64 or needs_int64(gx, indices, grad), BLOCK=FLAT_BLOCK, num_warps=4)
    return gx
