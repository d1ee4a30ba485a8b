"""Fused depthwise-separable convolution in Triton: the depthwise result stays on chip.

out = act(pointwise(act_mid(depthwise(x) * mid_scale + mid_shift)) * scale + shift)

A program owns BLOCK_M output pixels x BLOCK_N output channels. It walks the M*C middle
channels in BLOCK_C slices: computes the depthwise tile [BLOCK_M, BLOCK_C] in registers
(R x S taps unrolled, fp32), applies the middle epilogue, rounds it to the input dtype (the
same rounding point as two separate convolutions, so results match the unfused path) and
feeds it straight into ``tl.dot`` with the pointwise weight slice [BLOCK_C, BLOCK_N]
(tensor cores for fp16/bf16). The middle tensor is never written to memory.

Cost of the fusion: a program recomputes its pixels' depthwise for every output-channel
tile, so the launcher uses it only while cdiv(K, BLOCK_N) <= MAX_N_TILES (the recompute is
R*S multiply-adds per middle value per tile, reading x again from L2); wider layers take the
two-launch path (see :func:`fits`).
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
from .depthwise_grouped import epilogue_store, pixel_coords

MAX_N_TILES = 2
_MAX_BLOCK_N = 128


@triton.jit
def _separable_kernel(
    x_ptr,  # [N, C, H, W] any strides
    dw_ptr,  # [CM, 1, R, S] any strides, CM = MULT * C
    pw_ptr,  # [K, CM, 1, 1] any strides
    mid_scale_ptr, mid_shift_ptr,  # [CM] fp32, read iff HAS_MID_SCALE / HAS_MID_SHIFT
    scale_ptr, shift_ptr,  # [K] fp32, read iff HAS_SCALE / HAS_SHIFT
    out_ptr,  # [N, K, P, Q] any strides
    M, H, W, CM, K, P, Q, MULT,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sx_n, sx_c, sx_h, sx_w,
    sd_k, sd_r, sd_s,
    sp_k, sp_c,
    so_n, so_k, so_p, so_q,
    R: tl.constexpr, S: tl.constexpr,
    HAS_MID_SCALE: tl.constexpr, HAS_MID_SHIFT: tl.constexpr, MID_RELU: tl.constexpr,
    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, RELU: tl.constexpr,
    INDEX_64: tl.constexpr, DOT_FP32: tl.constexpr, BF16_RTNE: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    m_ok, n_img, p, q, h0, w0 = pixel_coords(pid_m, M, P, Q, stride_h, stride_w, pad_h, pad_w,
                                              INDEX_64, BLOCK_M)
    kn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    kn_ok = kn < K
    x_img = x_ptr + n_img * sx_n  # [BLOCK_M]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for c0 in range(0, CM, BLOCK_C):
        cm = c0 + tl.arange(0, BLOCK_C)  # middle channels of this slice
        c_ok = cm < CM
        x_base = x_img[:, None] + ((cm // MULT) * sx_c)[None, :]
        mid = tl.zeros((BLOCK_M, BLOCK_C), dtype=tl.float32)
        for r in tl.static_range(R):
            ih = h0 + r * dil_h
            h_ok = m_ok & (ih >= 0) & (ih < H)
            for s in tl.static_range(S):
                iw = w0 + s * dil_w
                ok = h_ok & (iw >= 0) & (iw < W)
                xv = tl.load(x_base + (ih * sx_h + iw * sx_w)[:, None],
                             mask=ok[:, None] & c_ok[None, :], other=0.0)
                wv = tl.load(dw_ptr + cm * sd_k + (r * sd_r + s * sd_s), mask=c_ok, other=0.0)
                mid += xv.to(tl.float32) * wv.to(tl.float32)[None, :]
        if HAS_MID_SCALE:
            mid = mid * tl.load(mid_scale_ptr + cm, mask=c_ok, other=0.0)[None, :]
        if HAS_MID_SHIFT:
            mid = mid + tl.load(mid_shift_ptr + cm, mask=c_ok, other=0.0)[None, :]
        if MID_RELU:
            mid = tl.where(mid < 0.0, 0.0, mid)
        if BF16_RTNE:
            mid = round_to_bf16_rtne(mid)
        a = mid.to(x_ptr.dtype.element_ty)  # the unfused path's rounding point
        b = tl.load(pw_ptr + (kn * sp_k)[None, :] + (cm * sp_c)[:, None],
                    mask=c_ok[:, None] & kn_ok[None, :], other=0.0)  # [BLOCK_C, BLOCK_N]
        if DOT_FP32:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION)
    epilogue_store(acc, n_img, p, q, kn, m_ok, kn_ok, scale_ptr, shift_ptr, out_ptr, out_ptr,
                    0, 0, 0, 0, so_n, so_k, so_p, so_q,
                    HAS_SCALE, HAS_SHIFT, False, RELU, BF16_RTNE)


def _block_n(K: int) -> int:
    return max(16, min(_MAX_BLOCK_N, triton.next_power_of_2(K)))


def fits(K: int) -> bool:
    """Whether the fused kernel is used for K output channels (else two launches)."""
    return triton.cdiv(K, _block_n(K)) <= MAX_N_TILES


def separable_conv2d_fused(input, dw_weight, pw_weight, mid_scale, mid_shift, mid_relu, scale,
                           shift, relu, stride, padding, dilation):
    """The fused separable convolution; see the module docstring. Returns [N, K, P, Q] in
    the input's memory format."""
    sh, sw = pair("triton.separable_conv2d_fused", "stride", stride)
    ph, pw = pair("triton.separable_conv2d_fused", "padding", padding)
    dh, dw = pair("triton.separable_conv2d_fused", "dilation", dilation)
    N, C, H, W = input.shape
    CM, _, R, S = dw_weight.shape
    K = pw_weight.shape[0]
    P = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    Q = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    out = torch.empty((N, K, P, Q), dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    if out.numel() == 0:
        return out
    interp = is_interpreted(_separable_kernel)
    vec = [v.contiguous() if v is not None else None for v in (mid_scale, mid_shift, scale, shift)]
    M = N * P * Q
    if interp:
        block_m, block_n, block_c = 16, 16, 16
    else:
        block_m, block_n, block_c = 64, _block_n(K), 32
    grid = (triton.cdiv(M, block_m), triton.cdiv(K, block_n))
    with device_context(input, interp):
        _separable_kernel[grid](
            input, dw_weight, pw_weight, *[v if v is not None else out for v in vec], out,
            M, H, W, CM, K, P, Q, CM // C,
            sh, sw, ph, pw, dh, dw,
            *input.stride(), dw_weight.stride(0), dw_weight.stride(2), dw_weight.stride(3),
            pw_weight.stride(0), pw_weight.stride(1),
            *out.stride(),
            R=R, S=S,
            HAS_MID_SCALE=vec[0] is not None, HAS_MID_SHIFT=vec[1] is not None,
            MID_RELU=bool(mid_relu), HAS_SCALE=vec[2] is not None,
            HAS_SHIFT=vec[3] is not None, RELU=bool(relu),
            INDEX_64=needs_int64(input, out, slack=2),
            DOT_FP32=interp and input.dtype == torch.bfloat16,
            BF16_RTNE=interp and input.dtype == torch.bfloat16,
            INPUT_PRECISION=conv_fp32_precision() if input.dtype == torch.float32 else "ieee",
            BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_C=block_c,
            **({} if interp else {"num_warps": 4 if block_n <= 64 else 8}))
    return out
