"""Grouped and depthwise 2-D convolution with the fused epilogue (groups > 1), in Triton.

Two kernels, one launcher (:func:`conv2d_grouped`):

* DEPTHWISE (groups == C, K = multiplier * C): a program owns a [BLOCK_M pixels, BLOCK_C
  output channels] tile and walks the R x S taps (R, S are constexpr, so every kernel size
  gets its own fully unrolled specialization). Each tap is one [BLOCK_M, BLOCK_C] gather
  whose contiguous axis follows the input layout (channels for NHWC, pixels for NCHW), times
  a [BLOCK_C] weight vector. One read of the input window per tap (L1/L2 absorb the R*S
  overlap), one write of the output.
* GROUPED (any other groups): grid axis 1 is the group, axis 0 the (pixel tile, channel
  tile within the group). The reduction runs over the group's Cg*R*S in BLOCK_K slices
  with k = (r, s, c) decomposed per element (the FLAT schedule of triton/conv.py). Groups wide
  enough for tensor cores (Kg >= 16 and Cg*R*S >= 16, e.g. AlexNet's two towers) use
  ``tl.dot``; narrow ones (ResNeXt's 4 channels per group) a broadcast multiply-reduce,
  where a 16-wide MMA tile would be three quarters padding.

Epilogue on the fp32 accumulator: act(acc * scale[k] + shift[k] + residual), one rounding.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._checks import pair
from ._common import (
    conv_fp32_precision,
    device_context,
    is_interpreted,
    needs_int64,
    output_memory_format,
    round_to_bf16_rtne,
)


@triton.jit
def epilogue_store(acc, n_img, p, q, kn, m_ok, kn_ok, scale_ptr, shift_ptr, res_ptr, out_ptr,
                    sr_n, sr_k, sr_p, sr_q, so_n, so_k, so_p, so_q,
                    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr,
                    HAS_RESIDUAL: tl.constexpr, RELU: tl.constexpr, BF16_RTNE: tl.constexpr):
    """acc [BLOCK_M, BLOCK_N] fp32 -> act(acc * scale + shift + residual) stored as out."""
    if HAS_SCALE:
        acc = acc * tl.load(scale_ptr + kn, mask=kn_ok, other=0.0).to(tl.float32)[None, :]
    if HAS_SHIFT:
        acc = acc + tl.load(shift_ptr + kn, mask=kn_ok, other=0.0).to(tl.float32)[None, :]
    mask = m_ok[:, None] & kn_ok[None, :]
    if HAS_RESIDUAL:
        r_ptrs = (res_ptr + (n_img * sr_n + p * sr_p + q * sr_q))[:, None] + (kn * sr_k)[None, :]
        acc = acc + tl.load(r_ptrs, mask=mask, other=0.0).to(tl.float32)
    if RELU:
        acc = tl.where(acc < 0.0, 0.0, acc)  # keeps NaN, as torch.relu does
    if BF16_RTNE:
        acc = round_to_bf16_rtne(acc)
    o_ptrs = (out_ptr + (n_img * so_n + p * so_p + q * so_q))[:, None] + (kn * so_k)[None, :]
    tl.store(o_ptrs, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def pixel_coords(pid_m, M, P, Q, stride_h, stride_w, pad_h, pad_w,
                  INDEX_64: tl.constexpr, BLOCK_M: tl.constexpr):
    """Output rows of tile pid_m -> (m_ok, n, p, q, h0, w0), each [BLOCK_M]."""
    if INDEX_64:
        m = pid_m.to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    else:
        m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = m < M
    PQ = P * Q
    n_img = m // PQ
    pq = m - n_img * PQ
    p = pq // Q
    q = pq - p * Q
    return m_ok, n_img, p, q, p * stride_h - pad_h, q * stride_w - pad_w


@triton.jit
def _depthwise_kernel(
    x_ptr,  # [N, C, H, W] any strides
    w_ptr,  # [K, 1, R, S] any strides, K = MULT * C
    scale_ptr, shift_ptr,  # [K] fp32, read iff HAS_SCALE / HAS_SHIFT
    res_ptr,  # [N, K, P, Q] any strides, read iff HAS_RESIDUAL
    out_ptr,  # [N, K, P, Q] any strides
    M, H, W, K, P, Q, MULT,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sx_n, sx_c, sx_h, sx_w,
    sw_k, sw_r, sw_s,
    sr_n, sr_k, sr_p, sr_q,
    so_n, so_k, so_p, so_q,
    R: tl.constexpr, S: tl.constexpr,
    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr, INDEX_64: tl.constexpr, BF16_RTNE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_c = tl.program_id(1)
    m_ok, n_img, p, q, h0, w0 = pixel_coords(pid_m, M, P, Q, stride_h, stride_w, pad_h, pad_w,
                                              INDEX_64, BLOCK_M)
    kn = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    kn_ok = kn < K
    cin = kn // MULT
    x_base = (x_ptr + n_img * sx_n)[:, None] + (cin * sx_c)[None, :]  # [BLOCK_M, BLOCK_C]
    acc = tl.zeros((BLOCK_M, BLOCK_C), dtype=tl.float32)
    for r in tl.static_range(R):
        ih = h0 + r * dil_h
        h_ok = m_ok & (ih >= 0) & (ih < H)
        for s in tl.static_range(S):
            iw = w0 + s * dil_w
            ok = h_ok & (iw >= 0) & (iw < W)
            x = tl.load(x_base + (ih * sx_h + iw * sx_w)[:, None],
                        mask=ok[:, None] & kn_ok[None, :], other=0.0)
            wv = tl.load(w_ptr + kn * sw_k + (r * sw_r + s * sw_s), mask=kn_ok, other=0.0)
            acc += x.to(tl.float32) * wv.to(tl.float32)[None, :]
    epilogue_store(acc, n_img, p, q, kn, m_ok, kn_ok, scale_ptr, shift_ptr, res_ptr, out_ptr,
                    sr_n, sr_k, sr_p, sr_q, so_n, so_k, so_p, so_q,
                    HAS_SCALE, HAS_SHIFT, HAS_RESIDUAL, RELU, BF16_RTNE)


@triton.jit
def _grouped_kernel(
    x_ptr,  # [N, C, H, W] any strides, C = groups * Cg
    w_ptr,  # [K, Cg, R, S] with (r, s, c) contiguous per row: KRSC, K = groups * Kg
    scale_ptr, shift_ptr,  # [K] fp32, read iff HAS_SCALE / HAS_SHIFT
    res_ptr,  # [N, K, P, Q] any strides, read iff HAS_RESIDUAL
    out_ptr,  # [N, K, P, Q] any strides
    M, H, W, Cg, Kg, P, Q, R, S,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sx_n, sx_c, sx_h, sx_w,
    sw_k,
    sr_n, sr_k, sr_p, sr_q,
    so_n, so_k, so_p, so_q,
    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr, INDEX_64: tl.constexpr, BF16_RTNE: tl.constexpr,
    USE_DOT: tl.constexpr, DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    group = tl.program_id(1)
    n_tiles = tl.cdiv(Kg, BLOCK_N)
    pid_m = pid // n_tiles
    pid_n = pid - pid_m * n_tiles
    m_ok, n_img, p, q, h0, w0 = pixel_coords(pid_m, M, P, Q, stride_h, stride_w, pad_h, pad_w,
                                              INDEX_64, BLOCK_M)
    kg = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # channel within the group
    kn_ok = kg < Kg
    kn = group * Kg + kg  # global output channel
    x_row = x_ptr + (n_img * sx_n + (group * Cg) * sx_c)  # [BLOCK_M]
    w_col = w_ptr + kn * sw_k  # [BLOCK_N]
    CRS = Cg * R * S
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, CRS, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)  # (r, s, c), c fastest: the KRSC weight order
        k_ok = kk < CRS
        rs = kk // Cg
        c = kk - rs * Cg
        r = rs // S
        s = rs - r * S
        ih = h0[:, None] + (r * dil_h)[None, :]
        iw = w0[:, None] + (s * dil_w)[None, :]
        a_ok = (m_ok[:, None] & k_ok[None, :]) & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        a = tl.load(x_row[:, None] + (c * sx_c)[None, :] + ih * sx_h + iw * sx_w, mask=a_ok,
                    other=0.0)  # [BLOCK_M, BLOCK_K]
        b = tl.load(w_col[None, :] + kk[:, None], mask=k_ok[:, None] & kn_ok[None, :],
                    other=0.0)  # [BLOCK_K, BLOCK_N]
        if USE_DOT:
            if DOT_FP32:
                a = a.to(tl.float32)
                b = b.to(tl.float32)
            acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION)
        else:
            acc += tl.sum(a.to(tl.float32)[:, :, None] * b.to(tl.float32)[None, :, :], axis=1)
    epilogue_store(acc, n_img, p, q, kn, m_ok, kn_ok, scale_ptr, shift_ptr, res_ptr, out_ptr,
                    sr_n, sr_k, sr_p, sr_q, so_n, so_k, so_p, so_q,
                    HAS_SCALE, HAS_SHIFT, HAS_RESIDUAL, RELU, BF16_RTNE)


def _pow2_at_least(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, triton.next_power_of_2(max(int(v), 1))))


def conv2d_grouped(input, weight, scale, shift, residual, stride, padding, dilation, groups,
                   relu, *, index64=None):
    """act(conv2d(input, weight, groups=groups) * scale[k] + shift[k] + residual), groups > 1.

    input [N, C, H, W], weight [K, C/groups, R, S] (fp32/fp16/bf16, any strides); scale,
    shift fp32 [K] or None; residual [N, K, P, Q] or None. ``index64`` forces (True) or
    forbids (False) 64-bit pixel offsets; None decides from the tensors' extents. Returns
    [N, K, P, Q] in the input's memory format.
    """
    sh, sw = pair("triton.conv2d_grouped", "stride", stride)
    ph, pw = pair("triton.conv2d_grouped", "padding", padding)
    dh, dw = pair("triton.conv2d_grouped", "dilation", dilation)
    N, C, H, W = input.shape
    K, Cg, R, S = weight.shape
    if Cg * groups != C or K % groups != 0:
        raise ValueError(f"conv2d_grouped (triton): weight {tuple(weight.shape)} does not match "
                         f"input channels {C} with groups={groups}")
    P = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    Q = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    if P <= 0 or Q <= 0:
        raise ValueError(f"conv2d_grouped (triton): output size is too small ({P}x{Q})")
    out = torch.empty((N, K, P, Q), dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    if out.numel() == 0:
        return out
    interp = is_interpreted(_grouped_kernel)
    scale = scale.contiguous() if scale is not None else None
    shift = shift.contiguous() if shift is not None else None
    rows64 = needs_int64(input, residual, out, slack=2) if index64 is None else bool(index64)
    M = N * P * Q
    Kg = K // groups
    placeholder = out
    epilogue_tensors = (scale if scale is not None else placeholder,
                        shift if shift is not None else placeholder,
                        residual if residual is not None else placeholder, out)
    epilogue_strides = (*(residual.stride() if residual is not None else (0, 0, 0, 0)),
                        *out.stride())
    flags = dict(HAS_SCALE=scale is not None, HAS_SHIFT=shift is not None,
                 HAS_RESIDUAL=residual is not None, RELU=bool(relu), INDEX_64=rows64,
                 BF16_RTNE=interp and input.dtype == torch.bfloat16)
    with device_context(input, interp):
        if Cg == 1:
            block_m, block_c = (16, 8) if interp else (64, _pow2_at_least(K, 16, 64))
            grid = (triton.cdiv(M, block_m), triton.cdiv(K, block_c))
            _depthwise_kernel[grid](
                input, weight, *epilogue_tensors,
                M, H, W, K, P, Q, Kg,
                sh, sw, ph, pw, dh, dw,
                *input.stride(), weight.stride(0), weight.stride(2), weight.stride(3),
                *epilogue_strides,
                R=R, S=S, **flags, BLOCK_M=block_m, BLOCK_C=block_c,
                **({} if interp else {"num_warps": 4}))
            return out
        # KRSC weight: each output channel's (r, s, c) reduction is contiguous.
        if not weight.is_contiguous(memory_format=torch.channels_last):
            weight = weight.contiguous(memory_format=torch.channels_last)
        use_dot = Kg >= 16 and Cg * R * S >= 16
        if interp:
            block_m, block_n, block_k = 16, _pow2_at_least(Kg, 16 if use_dot else 1, 16), 16
        elif use_dot:
            block_m, block_n, block_k = 64, _pow2_at_least(Kg, 16, 64), 32
        else:
            block_m, block_n, block_k = 64, _pow2_at_least(Kg, 1, 16), 16
        grid = (triton.cdiv(M, block_m) * triton.cdiv(Kg, block_n), groups)
        _grouped_kernel[grid](
            input, weight, *epilogue_tensors,
            M, H, W, Cg, Kg, P, Q, R, S,
            sh, sw, ph, pw, dh, dw,
            *input.stride(), weight.stride(0),
            *epilogue_strides,
            **flags, USE_DOT=use_dot,
            DOT_FP32=interp and input.dtype == torch.bfloat16,
            INPUT_PRECISION=conv_fp32_precision() if input.dtype == torch.float32 else "ieee",
            BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k,
            **({} if interp else {"num_warps": 4}))
    return out
