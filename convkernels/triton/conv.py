"""Direct 2-D convolution as an implicit GEMM with a fused epilogue (groups == 1).

GEMM view: M = N*P*Q rows (one output pixel each), N_gemm = K output channels,
K_gemm = C*R*S. No im2col buffer: each program decomposes its BLOCK_M rows into
(n, h0, w0) once and gathers A tiles straight from the input through its strides,
masking the padding halo. The reduction order follows the input layout: (r, s, c), c
fastest, for channels-fastest inputs; (c, r, s) for NCHW-like inputs. Two schedules:

* BLOCKED (C >= 32): one iteration = one filter tap (r, s) x a BLOCK_K slice of channels.
  The tap is a scalar per iteration, so A addressing is one add per element, and with
  unit channel stride Triton sees contiguous loads (16-byte cp.async, pipelined).
* FLAT (C < 32, e.g. the RGB first layer, where a channel slice would be mostly
  padding): k runs over C*R*S and is decomposed per element.

The launcher lays the weight out so its K_gemm index is contiguous (KRSC for BLOCKED and
(r, s, c) FLAT, KCRS for (c, r, s) FLAT), as aten does for cuDNN: the weight is small and
a strided B tile would cost one memory sector per element.

NCHW inputs are contiguous along output pixels, not channels, so their A tile is
gathered as [BLOCK_K, BLOCK_M] (consecutive threads on consecutive pixels: coalesced)
and transposed in registers before tl.dot.

Epilogue on the fp32 accumulator: out = act(acc * scale[k] + shift[k] + residual),
one rounding on store, written through the output's strides.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._checks import pair
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

_BLOCKED_MIN_C = 32


@triton.jit(do_not_specialize=["M_CLASS"])
def conv2d_fused_kernel(
    x_ptr,  # [N, C, H, W] any strides
    w_ptr,  # [K, C, R, S]: KRSC if BLOCKED or not ORDER_CRS, else KCRS-contiguous
    scale_ptr,  # [K] fp32, read iff HAS_SCALE
    shift_ptr,  # [K] fp32, read iff HAS_SHIFT
    res_ptr,  # [N, K, P, Q] any strides, read iff HAS_RESIDUAL
    out_ptr,  # [N, K, P, Q] any strides
    M, C, H, W, K, P, Q, R, S,  # M = N*P*Q from the host (i64 when it needs to be)
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sx_n, sx_c, sx_h, sx_w,
    sw_k, sw_c, sw_r, sw_s,
    sr_n, sr_k, sr_p, sr_q,
    so_n, so_k, so_p, so_q,
    M_CLASS,  # log2 bucket of M: autotune key only, unused in the body
    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr,
    BLOCKED: tl.constexpr,  # tap x channel-slice iterations (else flat k over C*R*S)
    ORDER_CRS: tl.constexpr,  # k ordered (c, r, s) if True else (r, s, c)
    A_M_FAST: tl.constexpr,  # gather A as [BLOCK_K, BLOCK_M] (input contiguous along pixels)
    INDEX_64: tl.constexpr,  # int64 row offsets (input/output/residual span >= 2^31 elements)
    K_INDEX_64: tl.constexpr,  # int64 k-side offsets too (one image or the weight >= 2^31)
    DOT_FP32: tl.constexpr,  # upcast operands before tl.dot (interpreter has no bf16 dot)
    BF16_RTNE: tl.constexpr,  # round bf16 output explicitly (interpreter truncates)
    INPUT_PRECISION: tl.constexpr,  # "tf32" | "ieee", matters for fp32 operands only
    GROUP_M: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(K, BLOCK_N)
    # Grouped ordering: GROUP_M row tiles share the weight tiles while they sit in L2.
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + (pid % num_pid_in_group) % group_size_m
    pid_n = (pid % num_pid_in_group) // group_size_m

    rm = tl.arange(0, BLOCK_M)
    rn = tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    # Row offsets (image index * batch stride) are what outgrows int32 first; the k-side
    # offsets stay int32 unless one image or the weight is that large, because 64-bit
    # 2-D offset tiles cost registers (the NCHW int64 variants spilled badly).
    if INDEX_64:
        m = pid_m.to(tl.int64) * BLOCK_M + rm
    else:
        m = pid_m * BLOCK_M + rm
    if K_INDEX_64:
        rk = rk.to(tl.int64)
        kn = pid_n.to(tl.int64) * BLOCK_N + rn
    else:
        kn = pid_n * BLOCK_N + rn
    m_ok = m < M
    kn_ok = kn < K

    # Per-row decomposition, once per program: m -> (n, p, q) -> top-left input tap.
    PQ = P * Q
    n_img = m // PQ
    pq = m - n_img * PQ
    if INDEX_64 and not K_INDEX_64:
        pq = pq.to(tl.int32)  # within one image: keeps h/w math and masks 32-bit
    p = pq // Q
    q = pq - p * Q
    h0 = p * stride_h - pad_h
    w0 = q * stride_w - pad_w
    # Row base pointers ([BLOCK_M], may point into the halo): the only 64-bit part of
    # the address when INDEX_64; k-side offsets are added to them as int32.
    x_row = x_ptr + (n_img * sx_n + (h0 * sx_h + w0 * sx_w))
    w_col = w_ptr + kn * sw_k  # [BLOCK_N]
    RS = R * S

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    if BLOCKED:
        c_blocks = tl.cdiv(C, BLOCK_K)
        for it in range(0, RS * c_blocks):
            if ORDER_CRS:  # channel slice outer, taps inner: the slice stays in L1/L2
                cb = it // RS
                rs = it - cb * RS
            else:  # taps outer, channels inner
                rs = it // c_blocks
                cb = it - rs * c_blocks
            r = rs // S
            s = rs - r * S
            if K_INDEX_64:
                r = r.to(tl.int64)
                s = s.to(tl.int64)
            ih = h0 + r * dil_h
            iw = w0 + s * dil_w
            row_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            c = cb * BLOCK_K + rk
            c_ok = c < C
            tap = (r * dil_h) * sx_h + (s * dil_w) * sx_w
            a_ptrs = outer_add(x_row + tap, c * sx_c, A_M_FAST)
            a = tl.load(a_ptrs, mask=outer_and(row_ok, c_ok, A_M_FAST), other=0.0)
            if A_M_FAST:
                a = tl.trans(a)
            b_ptrs = w_col[None, :] + (c * sw_c + r * sw_r + s * sw_s)[:, None]
            b = tl.load(b_ptrs, mask=c_ok[:, None] & kn_ok[None, :], other=0.0)
            if DOT_FP32:
                a = a.to(tl.float32)
                b = b.to(tl.float32)
            acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION)
    else:
        CRS = C * RS
        for k0 in range(0, CRS, BLOCK_K):
            kk = k0 + rk
            if ORDER_CRS:
                c = kk // RS
                rs = kk - c * RS
            else:
                rs = kk // C
                c = kk - rs * C
            r = rs // S
            s = rs - r * S
            k_ok = kk < CRS
            dh = r * dil_h
            dw = s * dil_w
            ih = outer_add(h0, dh, A_M_FAST)
            iw = outer_add(w0, dw, A_M_FAST)
            a_ok = outer_and(m_ok, k_ok, A_M_FAST)
            a_ok = a_ok & ((ih >= 0) & (ih < H)) & ((iw >= 0) & (iw < W))
            a_ptrs = outer_add(x_row, c * sx_c + dh * sx_h + dw * sx_w, A_M_FAST)
            a = tl.load(a_ptrs, mask=a_ok, other=0.0)
            if A_M_FAST:
                a = tl.trans(a)
            # The launcher laid the weight out in this k order: offset = kk (vectorizable).
            b_ptrs = w_col[None, :] + kk[:, None]
            b = tl.load(b_ptrs, mask=k_ok[:, None] & kn_ok[None, :], other=0.0)
            if DOT_FP32:
                a = a.to(tl.float32)
                b = b.to(tl.float32)
            acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION)

    # Fused epilogue, all in fp32.
    if HAS_SCALE:
        acc = acc * tl.load(scale_ptr + kn, mask=kn_ok, other=0.0).to(tl.float32)[None, :]
    if HAS_SHIFT:
        acc = acc + tl.load(shift_ptr + kn, mask=kn_ok, other=0.0).to(tl.float32)[None, :]
    out_mask = m_ok[:, None] & kn_ok[None, :]
    if HAS_RESIDUAL:
        r_ptrs = (res_ptr + (n_img * sr_n + (p * sr_p + q * sr_q)))[:, None] + (kn * sr_k)[None, :]
        acc = acc + tl.load(r_ptrs, mask=out_mask, other=0.0).to(tl.float32)
    if RELU:
        acc = tl.where(acc < 0.0, 0.0, acc)  # keeps NaN, as torch.relu does
    if BF16_RTNE:
        acc = round_to_bf16_rtne(acc)
    o_ptrs = (out_ptr + (n_img * so_n + (p * so_p + q * so_q)))[:, None] + (kn * so_k)[None, :]
    tl.store(o_ptrs, acc.to(out_ptr.dtype.element_ty), mask=out_mask)


def _configs():
    out = []
    for bm, bn, bk, warps, stages in (
        (128, 128, 32, 8, 3),
        (128, 128, 64, 8, 3),
        (128, 64, 32, 4, 4),
        (128, 64, 64, 4, 3),
        (64, 128, 32, 4, 4),
        (64, 128, 64, 4, 3),
        (64, 64, 32, 4, 4),
        (64, 64, 64, 4, 3),
    ):
        out.append(triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk},
                                 num_warps=warps, num_stages=stages))
    return out


def _prune(configs, named_args, **kwargs):
    """Drop configs that cannot win: tiles far wider than K or M, or smem over budget."""
    args = {**named_args, **kwargs}
    K, M = args["K"], args["M"]
    elt = args["x_ptr"].element_size()
    kept = []
    for cfg in configs:
        bm, bn, bk = cfg.kwargs["BLOCK_M"], cfg.kwargs["BLOCK_N"], cfg.kwargs["BLOCK_K"]
        if bn > 64 and K <= 64:
            continue
        if bm > 64 and M <= 64:
            continue
        if cfg.num_stages * (bm * bk + bk * bn) * elt > 160 * 1024:
            continue
        if args["BLOCKED"] and bk > args["C"]:
            continue
        if args["INDEX_64"] and bm * bn > 64 * 64:  # 64-bit row math: larger tiles spill
            continue
        if not args["BLOCKED"]:
            # Per-element 2-D index math lives next to the tiles: BK=64 spills, and so
            # do fp32 tiles above ~80 values per thread (ptxas, sm80, triton 3.6/3.9).
            if bk > 32:
                continue
            if elt == 4 and (bm * bn + bm * bk + bk * bn) > 80 * 32 * cfg.num_warps:
                continue
        kept.append(cfg)
    kept = kept or [min(configs, key=lambda c: c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"])]
    return fit_configs(kept, lambda c: _tile_bytes(c, elt), _acc_elements)


def _tile_bytes(cfg, elt: int) -> int:
    bm, bn, bk = cfg.kwargs["BLOCK_M"], cfg.kwargs["BLOCK_N"], cfg.kwargs["BLOCK_K"]
    return (bm * bk + bk * bn) * elt


def _acc_elements(cfg) -> int:
    return cfg.kwargs["BLOCK_M"] * cfg.kwargs["BLOCK_N"]


_conv2d_fused_tuned = triton.autotune(
    configs=_configs(),
    key=["C", "K", "R", "S", "stride_h", "stride_w", "dil_h", "dil_w", "M_CLASS",
         "HAS_SCALE", "HAS_SHIFT", "HAS_RESIDUAL", "RELU", "BLOCKED", "ORDER_CRS", "INDEX_64",
         "K_INDEX_64", "INPUT_PRECISION"],
    prune_configs_by={"early_config_prune": _prune},
)(conv2d_fused_kernel)

# The interpreter is numpy: one small deterministic tile, no tuning.
_INTERPRET_CONFIG = {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16}


def defined_interpreted() -> bool:
    """Whether this module's kernels were defined under TRITON_INTERPRET=1."""
    return is_interpreted(conv2d_fused_kernel)


def conv2d_fused(input, weight, scale, shift, residual, stride, padding, dilation, relu, *,
                 index64=None):
    """act(conv2d(input, weight) * scale[k] + shift[k] + residual), groups == 1.

    input [N, C, H, W] and weight [K, C, R, S] (fp32/fp16/bf16, any strides); scale, shift
    fp32 [K] or None; residual [N, K, P, Q] or None. `index64` forces (True) or forbids
    (False) all 64-bit offsets; None picks row and k-side widths by the tensors' extents.
    Returns [N, K, P, Q] in the input's memory format.
    """
    sh, sw = pair("triton.conv2d_fused", "stride", stride)
    ph, pw = pair("triton.conv2d_fused", "padding", padding)
    dh, dw = pair("triton.conv2d_fused", "dilation", dilation)
    N, C, H, W = input.shape
    K, Cw, R, S = weight.shape
    if Cw != C:
        raise ValueError(f"conv2d_fused (triton): groups must be 1, got input channels {C} "
                         f"and weight {tuple(weight.shape)}")
    P = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    Q = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    if P <= 0 or Q <= 0:
        raise ValueError(f"conv2d_fused (triton): output size is too small ({P}x{Q})")
    out = torch.empty((N, K, P, Q), dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    if out.numel() == 0:
        return out
    if residual is not None and tuple(residual.shape) != (N, K, P, Q):
        raise ValueError(f"conv2d_fused (triton): residual shape {tuple(residual.shape)} "
                         f"!= output shape {(N, K, P, Q)}")

    interp = is_interpreted(conv2d_fused_kernel)
    c_fast = channels_fastest(input)
    blocked = C >= _BLOCKED_MIN_C
    # Weight in the schedule's k order (see module doc); FLAT indexes it by k alone.
    if blocked or c_fast:
        if not weight.is_contiguous(memory_format=torch.channels_last):
            weight = weight.contiguous(memory_format=torch.channels_last)
    elif not weight.is_contiguous():
        weight = weight.contiguous()
    scale = scale.contiguous() if scale is not None else None
    shift = shift.contiguous() if shift is not None else None
    if index64 is None:
        # Padding lets h0*stride step up to one row/column outside the input: slack 2.
        rows64 = needs_int64(input, residual, out, slack=2)
        res_img = residual[:1] if residual is not None else None
        k64 = needs_int64(input[:1], weight, out[:1], res_img, slack=2)
    else:
        rows64 = k64 = bool(index64)

    M = N * P * Q
    placeholder = out
    args = (
        input, weight,
        scale if scale is not None else placeholder,
        shift if shift is not None else placeholder,
        residual if residual is not None else placeholder,
        out,
        M, C, H, W, K, P, Q, R, S,
        sh, sw, ph, pw, dh, dw,
        *input.stride(), *weight.stride(),
        *(residual.stride() if residual is not None else (0, 0, 0, 0)),
        *out.stride(),
        max(M - 1, 1).bit_length(),
    )
    meta = dict(
        HAS_SCALE=scale is not None, HAS_SHIFT=shift is not None, HAS_RESIDUAL=residual is not None,
        RELU=bool(relu), BLOCKED=blocked, ORDER_CRS=not c_fast, A_M_FAST=not c_fast,
        INDEX_64=rows64, K_INDEX_64=k64,
        DOT_FP32=interp and input.dtype == torch.bfloat16,
        BF16_RTNE=interp and input.dtype == torch.bfloat16,
        INPUT_PRECISION=conv_fp32_precision() if input.dtype == torch.float32 else "ieee",
        GROUP_M=8,
    )

    def grid(cfg):
        return (triton.cdiv(M, cfg["BLOCK_M"]) * triton.cdiv(K, cfg["BLOCK_N"]),)

    with device_context(input, interp):
        if interp:
            conv2d_fused_kernel[grid(_INTERPRET_CONFIG)](*args, **meta, **_INTERPRET_CONFIG)
        else:
            _conv2d_fused_tuned[grid](*args, **meta)
    return out
