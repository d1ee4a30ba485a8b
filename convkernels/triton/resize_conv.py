"""Triton resize-convolution: conv2d(interpolate(x, scale_factor=s, mode), w) without the
upsampled image.

Nearest (``_nearest_kernel``): grid axis 1 is the output residue class (rho_h, rho_w); each
program computes a BLOCK_M x BLOCK_N tile of that class's low-res implicit GEMM with the
phase-folded weight (Th x Tw taps instead of R x S) and stores it into the interleaved
high-res output rows ``rho_h + Lh*i``, columns ``rho_w + Lw*j``. All classes in one launch.

Bilinear (``_bilinear_kernel``): the implicit GEMM of the high-res conv, whose A-operand
gather computes each upsampled value from its four low-res neighbours (PyTorch's source
index rule and border clamp), rounds it to the input dtype as ``F.interpolate`` would, and
feeds ``tl.dot``. The interpolation weights depend on the output pixel and the tap only, so
they are computed once per tap per row, outside the channel loop.

Reduction order: taps outer, channel slices of BLOCK_K inner. NCHW inputs are gathered as
[BLOCK_K, BLOCK_M] tiles (consecutive lanes on consecutive pixels) and transposed.
Epilogue on the fp32 accumulator: act(acc * scale[k] + shift[k]), one rounding on store.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import (
    channels_fastest,
    conv_fp32_precision,
    device_context,
    fit_configs,
    is_interpreted,
    needs_int64,
    outer_add,
    outer_and,
    output_memory_format,
    round_to_bf16_rtne,
)


@triton.jit
def _per_row(v, M_FAST: tl.constexpr):
    """A per-pixel vector [BM] broadcast against an A tile ([BM, BK], or [BK, BM] if M_FAST)."""
    if M_FAST:
        return v[None, :]
    else:
        return v[:, None]


@triton.jit
def _epilogue_store(acc, out_ptrs, out_mask, scale_ptr, shift_ptr, kn, kn_ok,
                    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, RELU: tl.constexpr,
                    BF16_RTNE: tl.constexpr):
    if HAS_SCALE:
        acc = acc * tl.load(scale_ptr + kn, mask=kn_ok, other=0.0).to(tl.float32)[None, :]
    if HAS_SHIFT:
        acc = acc + tl.load(shift_ptr + kn, mask=kn_ok, other=0.0).to(tl.float32)[None, :]
    if RELU:
        acc = tl.where(acc < 0.0, 0.0, acc)  # keeps NaN, as torch.relu does
    if BF16_RTNE:
        acc = round_to_bf16_rtne(acc)
    tl.store(out_ptrs, acc.to(out_ptrs.dtype.element_ty), mask=out_mask)


@triton.jit
def _nearest_kernel(
    x_ptr,  # [N, C, H, W] any strides (low resolution)
    w_ptr,  # [Lh, Lw, K, C, Th, Tw] phase-folded weight, any strides
    scale_ptr, shift_ptr,  # [K] fp32, read iff HAS_SCALE / HAS_SHIFT
    out_ptr,  # [N, K, P, Q] any strides (high resolution)
    first_h_ptr, first_w_ptr,  # [Lh], [Lw] int32: low-res row/col of tap 0 of each class
    N, C, H, W, K, P, Q, Th, Tw, Lh, Lw,
    low_stride_h, low_stride_w,  # stride of every class's conv on the low-res input
    sx_n, sx_c, sx_h, sx_w,
    sw_a, sw_b, sw_k, sw_c, sw_t, sw_u,
    so_n, so_k, so_p, so_q,
    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, RELU: tl.constexpr,
    A_M_FAST: tl.constexpr, INDEX_64: tl.constexpr, DOT_FP32: tl.constexpr,
    BF16_RTNE: tl.constexpr, INPUT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    cls = tl.program_id(1)
    num_pid_n = tl.cdiv(K, BLOCK_N)
    pid_m = pid // num_pid_n
    pid_n = pid - pid_m * num_pid_n
    a = cls // Lw
    b = cls - a * Lw
    # Outputs of this class: rows a, a + Lh, ... < P (the grid is sized for class 0, the
    # largest; the others mask their tail).
    rows = (P - a + Lh - 1) // Lh
    cols = (Q - b + Lw - 1) // Lw
    cols_div = tl.maximum(cols, 1)
    M = N * rows * cols
    first_h = tl.load(first_h_ptr + a)
    first_w = tl.load(first_w_ptr + b)

    rm = tl.arange(0, BLOCK_M)
    rk = tl.arange(0, BLOCK_K)
    if INDEX_64:
        m = pid_m.to(tl.int64) * BLOCK_M + rm
    else:
        m = pid_m * BLOCK_M + rm
    kn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = m < M
    kn_ok = kn < K
    per_img = tl.maximum(rows * cols, 1)
    n_img = m // per_img
    ij = m - n_img * per_img
    i = ij // cols_div
    j = ij - i * cols_div
    h0 = first_h + i * low_stride_h
    w0 = first_w + j * low_stride_w
    x_row = x_ptr + (n_img * sx_n + (h0 * sx_h + w0 * sx_w))
    w_col = w_ptr + (a * sw_a + b * sw_b) + kn * sw_k

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for tap in range(0, Th * Tw):
        t = tap // Tw
        u = tap - t * Tw
        ih = h0 + t
        iw = w0 + u
        row_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        tap_x = t * sx_h + u * sx_w
        for c0 in range(0, C, BLOCK_K):
            c = c0 + rk
            c_ok = c < C
            a_tile = tl.load(outer_add(x_row + tap_x, c * sx_c, A_M_FAST),
                             mask=outer_and(row_ok, c_ok, A_M_FAST), other=0.0)
            if A_M_FAST:
                a_tile = tl.trans(a_tile)
            b_ptrs = w_col[None, :] + (c * sw_c + t * sw_t + u * sw_u)[:, None]
            b_tile = tl.load(b_ptrs, mask=c_ok[:, None] & kn_ok[None, :], other=0.0)
            if DOT_FP32:
                a_tile = a_tile.to(tl.float32)
                b_tile = b_tile.to(tl.float32)
            acc = tl.dot(a_tile, b_tile, acc, input_precision=INPUT_PRECISION)

    p = a + Lh * i
    q = b + Lw * j
    o_ptrs = (out_ptr + (n_img * so_n + (p * so_p + q * so_q)))[:, None] + (kn * so_k)[None, :]
    _epilogue_store(acc, o_ptrs, m_ok[:, None] & kn_ok[None, :], scale_ptr, shift_ptr, kn,
                    kn_ok, HAS_SCALE, HAS_SHIFT, RELU, BF16_RTNE)


@triton.jit
def _source_index(dst, ratio, ALIGN_CORNERS: tl.constexpr):
    """F.interpolate's linear source coordinate of high-res index dst (fp32, >= 0)."""
    d = dst.to(tl.float32)
    if ALIGN_CORNERS:
        return ratio * d
    else:
        return tl.maximum(ratio * (d + 0.5) - 0.5, 0.0)


@triton.jit
def _bilinear_kernel(
    x_ptr,  # [N, C, H, W] any strides (low resolution)
    w_ptr,  # [K, C, R, S] any strides
    scale_ptr, shift_ptr,  # [K] fp32, read iff HAS_SCALE / HAS_SHIFT
    out_ptr,  # [N, K, P, Q] any strides (conv output on the high-res grid)
    N, C, H, W, K, P, Q, R, S,
    HU, WU,  # upsampled sizes s*H, s*W
    ratio_h, ratio_w,  # fp32 source-index ratios as aten computes them
    stride_h, stride_w, pad_h, pad_w,
    sx_n, sx_c, sx_h, sx_w,
    sw_k, sw_c, sw_r, sw_s,
    so_n, so_k, so_p, so_q,
    ALIGN_CORNERS: tl.constexpr,
    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, RELU: tl.constexpr,
    A_M_FAST: tl.constexpr, INDEX_64: tl.constexpr, DOT_FP32: tl.constexpr,
    BF16_RTNE: tl.constexpr, INPUT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    num_pid_n = tl.cdiv(K, BLOCK_N)
    pid_m = pid // num_pid_n
    pid_n = pid - pid_m * num_pid_n
    rm = tl.arange(0, BLOCK_M)
    rk = tl.arange(0, BLOCK_K)
    if INDEX_64:
        m = pid_m.to(tl.int64) * BLOCK_M + rm
    else:
        m = pid_m * BLOCK_M + rm
    kn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    M = N * P * Q
    m_ok = m < M
    kn_ok = kn < K
    n_img = m // (P * Q)
    pq = m - n_img * (P * Q)
    p = pq // Q
    q = pq - p * Q
    x_img = x_ptr + n_img * sx_n
    w_col = w_ptr + kn * sw_k

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for tap in range(0, R * S):
        r = tap // S
        s = tap - r * S
        hy = p * stride_h - pad_h + r  # high-res coordinates of this tap
        wx = q * stride_w - pad_w + s
        ok = m_ok & (hy >= 0) & (hy < HU) & (wx >= 0) & (wx < WU)
        src_h = _source_index(hy, ratio_h, ALIGN_CORNERS)
        src_w = _source_index(wx, ratio_w, ALIGN_CORNERS)
        h1 = tl.minimum(src_h.to(tl.int32), H - 1)  # floor (src >= 0); clamp for masked rows
        w1 = tl.minimum(src_w.to(tl.int32), W - 1)
        lh1 = src_h - h1.to(tl.float32)
        lw1 = src_w - w1.to(tl.float32)
        lh0 = 1.0 - lh1
        lw0 = 1.0 - lw1
        dh = tl.where(h1 < H - 1, sx_h, 0)  # border clamp: the +1 neighbour stays in range
        dw = tl.where(w1 < W - 1, sx_w, 0)
        base = x_img + (h1 * sx_h + w1 * sx_w)
        lh0_t = _per_row(lh0, A_M_FAST)
        lh1_t = _per_row(lh1, A_M_FAST)
        lw0_t = _per_row(lw0, A_M_FAST)
        lw1_t = _per_row(lw1, A_M_FAST)
        for c0 in range(0, C, BLOCK_K):
            c = c0 + rk
            c_ok = c < C
            mask = outer_and(ok, c_ok, A_M_FAST)
            p00 = outer_add(base, c * sx_c, A_M_FAST)
            p01 = p00 + _per_row(dw, A_M_FAST)
            p10 = p00 + _per_row(dh, A_M_FAST)
            p11 = p10 + _per_row(dw, A_M_FAST)
            x00 = tl.load(p00, mask=mask, other=0.0).to(tl.float32)
            x01 = tl.load(p01, mask=mask, other=0.0).to(tl.float32)
            x10 = tl.load(p10, mask=mask, other=0.0).to(tl.float32)
            x11 = tl.load(p11, mask=mask, other=0.0).to(tl.float32)
            # aten's upsample_bilinear2d order of operations, in fp32.
            v = lh0_t * (lw0_t * x00 + lw1_t * x01) + lh1_t * (lw0_t * x10 + lw1_t * x11)
            if BF16_RTNE:
                a_tile = round_to_bf16_rtne(v)  # the interpreter's bf16 cast truncates
            else:
                a_tile = v.to(x_ptr.dtype.element_ty)  # F.interpolate rounds here
            if A_M_FAST:
                a_tile = tl.trans(a_tile)
            b_ptrs = w_col[None, :] + (c * sw_c + r * sw_r + s * sw_s)[:, None]
            b_tile = tl.load(b_ptrs, mask=c_ok[:, None] & kn_ok[None, :], other=0.0)
            if DOT_FP32:
                a_tile = a_tile.to(tl.float32)
                b_tile = b_tile.to(tl.float32)
            acc = tl.dot(a_tile, b_tile, acc, input_precision=INPUT_PRECISION)

    o_ptrs = (out_ptr + (n_img * so_n + (p * so_p + q * so_q)))[:, None] + (kn * so_k)[None, :]
    _epilogue_store(acc, o_ptrs, m_ok[:, None] & kn_ok[None, :], scale_ptr, shift_ptr, kn,
                    kn_ok, HAS_SCALE, HAS_SHIFT, RELU, BF16_RTNE)


def _configs():
    return [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=wp,
                          num_stages=st)
            for bm, bn, bk, wp, st in ((128, 128, 32, 8, 3), (128, 64, 32, 4, 3),
                                       (64, 128, 32, 4, 3), (64, 64, 32, 4, 4),
                                       (64, 64, 16, 4, 4))]


def _prune(configs, named_args, **kwargs):
    args = {**named_args, **kwargs}
    kept = [c for c in configs
            if not (c.kwargs["BLOCK_N"] > 64 and args["K"] <= 64)
            and not (c.kwargs["BLOCK_K"] > 16 and args["C"] <= 16)
            and not (args["INDEX_64"] and c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"] > 64 * 64)]
    elt = args["x_ptr"].element_size() if "x_ptr" in args else 4
    return fit_configs(
        kept or [configs[-1]],
        lambda c: (c.kwargs["BLOCK_M"] + c.kwargs["BLOCK_N"]) * c.kwargs["BLOCK_K"] * elt,
        lambda c: c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"])


_KEY = ["C", "K", "HAS_SCALE", "HAS_SHIFT", "RELU", "A_M_FAST", "INDEX_64", "INPUT_PRECISION"]
_nearest_tuned = triton.autotune(configs=_configs(), key=_KEY + ["Th", "Tw", "Lh", "Lw"],
                                 prune_configs_by={"early_config_prune": _prune})(_nearest_kernel)
_bilinear_tuned = triton.autotune(configs=_configs(), key=_KEY + ["R", "S", "ALIGN_CORNERS"],
                                  prune_configs_by={"early_config_prune": _prune}
                                  )(_bilinear_kernel)
# The interpreter is numpy: one small deterministic tile, no tuning.
_INTERPRET_CONFIG = {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16}


def _common_meta(input, scale, shift, relu, index64, interp):
    return dict(
        HAS_SCALE=scale is not None, HAS_SHIFT=shift is not None, RELU=bool(relu),
        A_M_FAST=not channels_fastest(input), INDEX_64=index64,
        DOT_FP32=interp and input.dtype == torch.bfloat16,
        BF16_RTNE=interp and input.dtype == torch.bfloat16,
        INPUT_PRECISION=conv_fp32_precision() if input.dtype == torch.float32 else "ieee")


def _launch(kernel, tuned, grid_of, args, meta, input):
    interp = is_interpreted(kernel)
    with device_context(input, interp):
        if interp:
            kernel[grid_of(_INTERPRET_CONFIG)](*args, **meta, **_INTERPRET_CONFIG)
        else:
            tuned[grid_of](*args, **meta)


def _out_size(size, s, k, pad, stride):
    return (s * size + 2 * pad - k) // stride + 1


def nearest_conv2d_fused(input, folded, scale, shift, scale_factor, padding, stride,
                         kernel_size, relu, *, index64=None):
    """act(conv2d(nearest_upsample(input, s), w) * scale + shift) from the phase-folded
    weight ``folded`` [Lh, Lw, K, C, Th, Tw] (see reference.resize_conv.phase_plan).

    input fp32/fp16/bf16 [N, C, H, W] any strides; scale, shift fp32 [K] or None.
    Returns [N, K, P, Q] in the input's memory format. ``index64`` forces the offset width.
    """
    from ..reference.resize_conv import phase_plan
    N, C, H, W = input.shape
    Lh, Lw, K, Cw, Th, Tw = folded.shape
    plan_h = phase_plan(scale_factor, kernel_size[0], padding[0], stride[0])
    plan_w = phase_plan(scale_factor, kernel_size[1], padding[1], stride[1])
    if (Lh, Lw, Th, Tw, Cw) != (plan_h.classes, plan_w.classes, plan_h.taps, plan_w.taps, C):
        raise ValueError(f"resize_nearest_conv2d_fused (triton): folded weight "
                         f"{tuple(folded.shape)} does not match the fold of scale "
                         f"{scale_factor}, kernel {tuple(kernel_size)}, padding "
                         f"{tuple(padding)}, stride {tuple(stride)} for C={C}")
    P = _out_size(H, scale_factor, kernel_size[0], padding[0], stride[0])
    Q = _out_size(W, scale_factor, kernel_size[1], padding[1], stride[1])
    out = torch.empty((N, K, P, Q), dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    if out.numel() == 0 or C == 0:
        return out.zero_() if C == 0 else out
    first_h = torch.tensor(plan_h.first_row, dtype=torch.int32, device=input.device)
    first_w = torch.tensor(plan_w.first_row, dtype=torch.int32, device=input.device)
    # Low-res taps may start up to T rows outside the input: slack 2 covers it.
    wide = needs_int64(input, out, folded, slack=2) if index64 is None else bool(index64)
    interp = is_interpreted(_nearest_kernel)
    placeholder = out
    args = (input, folded, scale if scale is not None else placeholder,
            shift if shift is not None else placeholder, out, first_h, first_w,
            N, C, H, W, K, P, Q, Th, Tw, Lh, Lw, plan_h.low_stride, plan_w.low_stride,
            *input.stride(), *folded.stride(), *out.stride())
    meta = _common_meta(input, scale, shift, relu, wide, interp)
    rows_max = N * (-(-P // Lh)) * (-(-Q // Lw))  # class (0, 0) has the most outputs

    def grid(cfg):
        return (triton.cdiv(rows_max, cfg["BLOCK_M"]) * triton.cdiv(K, cfg["BLOCK_N"]),
                Lh * Lw)
    _launch(_nearest_kernel, _nearest_tuned, grid, args, meta, input)
    return out


def _ratio(in_size: int, out_size: int, scale_factor: int, align_corners: bool) -> float:
    """aten's area_pixel_compute_scale, rounded to fp32 as the kernels use it."""
    if align_corners:
        r = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        r = 1.0 / scale_factor
    return float(torch.tensor(r, dtype=torch.float32))


def bilinear_conv2d_fused(input, weight, scale, shift, scale_factor, padding, stride,
                          align_corners, relu, *, index64=None):
    """act(conv2d(bilinear_upsample(input, s), weight) * scale + shift), the upsampled
    image never stored. input [N, C, H, W], weight [K, C, R, S], any strides."""
    N, C, H, W = input.shape
    K, _, R, S = weight.shape
    P = _out_size(H, scale_factor, R, padding[0], stride[0])
    Q = _out_size(W, scale_factor, S, padding[1], stride[1])
    out = torch.empty((N, K, P, Q), dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    if out.numel() == 0 or C == 0:
        return out.zero_() if C == 0 else out
    HU, WU = H * scale_factor, W * scale_factor
    wide = needs_int64(input, out, weight, slack=2) if index64 is None else bool(index64)
    interp = is_interpreted(_bilinear_kernel)
    placeholder = out
    args = (input, weight, scale if scale is not None else placeholder,
            shift if shift is not None else placeholder, out,
            N, C, H, W, K, P, Q, R, S, HU, WU,
            _ratio(H, HU, scale_factor, align_corners), _ratio(W, WU, scale_factor, align_corners),
            stride[0], stride[1], padding[0], padding[1],
            *input.stride(), *weight.stride(), *out.stride())
    meta = dict(ALIGN_CORNERS=bool(align_corners),
                **_common_meta(input, scale, shift, relu, wide, interp))

    def grid(cfg):
        return (triton.cdiv(N * P * Q, cfg["BLOCK_M"]) * triton.cdiv(K, cfg["BLOCK_N"]),)
    _launch(_bilinear_kernel, _bilinear_tuned, grid, args, meta, input)
    return out
