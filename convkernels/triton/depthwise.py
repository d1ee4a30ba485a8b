"""Depthwise convolution backward in Triton: input gradient and weight gradient.

Depthwise means groups == C and a weight [K, 1, R, S] with K = multiplier * C.

* Input gradient (:func:`depthwise_backward_input`): a gather. A program owns a
  [BLOCK_M input pixels, BLOCK_C input channels] tile of grad_input; for each of the
  multiplier's output channels and each tap (R, S constexpr: unrolled) it finds the output
  pixel whose window covers the input pixel (p*stride = h + pad - r*dil, when divisible) and
  accumulates grad_output * weight in fp32. One write per element, no atomics.
* Weight gradient (:func:`depthwise_backward_weight`): per (channel tile, chunk of output
  pixels) a program reduces grad_output[n,k,p,q] * input[n, k/mult, h, w] over the chunk for
  each tap into fp32 partials [chunks, K, R*S]; the chunks are then summed in order (a torch
  sum over a fixed-size axis). The chunk count depends on the shape only, so the result is
  bitwise reproducible: no atomics anywhere.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._checks import pair
from ._common import device_context, is_interpreted, needs_int64, output_memory_format

_PIXELS_PER_CHUNK = 4096
_MAX_CHUNKS = 256


@triton.jit
def _backward_input_kernel(
    dy_ptr,  # [N, K, P, Q] any strides
    w_ptr,  # [K, 1, R, S] any strides
    dx_ptr,  # [N, C, H, W] any strides (output)
    NHW, C, H, W, P, Q, MULT,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sd_n, sd_k, sd_p, sd_q,
    sw_k, sw_r, sw_s,
    sx_n, sx_c, sx_h, sx_w,
    R: tl.constexpr, S: tl.constexpr, INDEX_64: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_c = tl.program_id(1)
    if INDEX_64:
        m = pid_m.to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    else:
        m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = m < NHW
    HW = H * W
    n_img = m // HW
    hw = m - n_img * HW
    h = hw // W
    w = hw - h * W
    c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    acc = tl.zeros((BLOCK_M, BLOCK_C), dtype=tl.float32)
    for j in range(0, MULT):
        k = c * MULT + j
        dy_base = (dy_ptr + n_img * sd_n)[:, None] + (k * sd_k)[None, :]
        for r in tl.static_range(R):
            ph = h + pad_h - r * dil_h
            p = ph // stride_h
            p_ok = m_ok & (ph >= 0) & (p * stride_h == ph) & (p < P)
            for s in tl.static_range(S):
                qw = w + pad_w - s * dil_w
                q = qw // stride_w
                ok = p_ok & (qw >= 0) & (q * stride_w == qw) & (q < Q)
                g = tl.load(dy_base + (p * sd_p + q * sd_q)[:, None],
                            mask=ok[:, None] & c_ok[None, :], other=0.0)
                wv = tl.load(w_ptr + k * sw_k + (r * sw_r + s * sw_s), mask=c_ok, other=0.0)
                acc += g.to(tl.float32) * wv.to(tl.float32)[None, :]
    dx = (dx_ptr + (n_img * sx_n + h * sx_h + w * sx_w))[:, None] + (c * sx_c)[None, :]
    tl.store(dx, acc.to(dx_ptr.dtype.element_ty), mask=m_ok[:, None] & c_ok[None, :])


@triton.jit
def _backward_weight_partial_kernel(
    dy_ptr,  # [N, K, P, Q] any strides
    x_ptr,  # [N, C, H, W] any strides
    part_ptr,  # [chunks, K, R*S] fp32 contiguous (output)
    NPQ, K, H, W, P, Q, MULT, CHUNK_LEN,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sd_n, sd_k, sd_p, sd_q,
    sx_n, sx_c, sx_h, sx_w,
    R: tl.constexpr, S: tl.constexpr, INDEX_64: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid_c = tl.program_id(0)
    chunk = tl.program_id(1)
    k = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    k_ok = k < K
    cin = k // MULT
    begin = chunk * CHUNK_LEN
    end = tl.minimum(begin + CHUNK_LEN, NPQ)
    PQ = P * Q
    for tap in tl.static_range(R * S):
        r = tap // S
        s = tap % S
        acc = tl.zeros((BLOCK_C,), dtype=tl.float32)
        for m0 in range(begin, end, BLOCK_M):
            if INDEX_64:
                m = m0.to(tl.int64) + tl.arange(0, BLOCK_M)
            else:
                m = m0 + tl.arange(0, BLOCK_M)
            m_ok = m < end
            n_img = m // PQ
            pq = m - n_img * PQ
            p = pq // Q
            q = pq - p * Q
            ih = p * stride_h - pad_h + r * dil_h
            iw = q * stride_w - pad_w + s * dil_w
            x_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            mask2 = m_ok[:, None] & k_ok[None, :]
            g = tl.load((dy_ptr + (n_img * sd_n + p * sd_p + q * sd_q))[:, None]
                        + (k * sd_k)[None, :], mask=mask2, other=0.0)
            x = tl.load((x_ptr + (n_img * sx_n + ih * sx_h + iw * sx_w))[:, None]
                        + (cin * sx_c)[None, :], mask=x_ok[:, None] & k_ok[None, :], other=0.0)
            acc += tl.sum(g.to(tl.float32) * x.to(tl.float32), axis=0)
        tl.store(part_ptr + (chunk * K + k) * (R * S) + tap, acc, mask=k_ok)


def _geometry(grad_output, input, weight, stride, padding, dilation):
    sh, sw = pair("triton.depthwise_backward", "stride", stride)
    ph, pw = pair("triton.depthwise_backward", "padding", padding)
    dh, dw = pair("triton.depthwise_backward", "dilation", dilation)
    N, C, H, W = input.shape
    K, one, R, S = weight.shape
    if one != 1 or K % C != 0:
        raise ValueError(f"depthwise backward (triton): weight {tuple(weight.shape)} is not a "
                         f"depthwise weight for input {tuple(input.shape)}")
    P, Q = grad_output.shape[2], grad_output.shape[3]
    return (N, C, H, W, K, R, S, P, Q), (sh, sw, ph, pw, dh, dw)


def depthwise_backward_input(grad_output, input, weight, stride, padding, dilation):
    """grad_input of a depthwise convolution, in the input's memory format."""
    (N, C, H, W, K, R, S, P, Q), hyper = _geometry(grad_output, input, weight, stride, padding,
                                                   dilation)
    grad_input = torch.empty(input.shape, dtype=input.dtype, device=input.device,
                             memory_format=output_memory_format(input))
    if grad_input.numel() == 0:
        return grad_input
    if grad_output.numel() == 0:
        return grad_input.zero_()
    interp = is_interpreted(_backward_input_kernel)
    block_m, block_c = (16, 8) if interp else (64, max(16, min(64, triton.next_power_of_2(C))))
    grid = (triton.cdiv(N * H * W, block_m), triton.cdiv(C, block_c))
    with device_context(input, interp):
        _backward_input_kernel[grid](
            grad_output, weight, grad_input,
            N * H * W, C, H, W, P, Q, K // C, *hyper,
            *grad_output.stride(), weight.stride(0), weight.stride(2), weight.stride(3),
            *grad_input.stride(),
            R=R, S=S, INDEX_64=needs_int64(grad_output, grad_input, slack=2),
            BLOCK_M=block_m, BLOCK_C=block_c)
    return grad_input


def weight_grad_chunks(num_pixels: int) -> int:
    """Chunks of the N*P*Q reduction: a function of the shape only (reproducible sums)."""
    return max(1, min(_MAX_CHUNKS, triton.cdiv(num_pixels, _PIXELS_PER_CHUNK)))


def depthwise_backward_weight(grad_output, input, weight, stride, padding, dilation):
    """grad_weight [K, 1, R, S] (dense) of a depthwise convolution, deterministic."""
    (N, C, H, W, K, R, S, P, Q), hyper = _geometry(grad_output, input, weight, stride, padding,
                                                   dilation)
    npq = N * P * Q
    if K * R * S == 0 or npq == 0:
        return torch.zeros(weight.shape, dtype=weight.dtype, device=weight.device)
    chunks = weight_grad_chunks(npq)
    chunk_len = triton.cdiv(npq, chunks)
    partial = torch.empty((chunks, K, R * S), dtype=torch.float32, device=input.device)
    interp = is_interpreted(_backward_weight_partial_kernel)
    block_m, block_c = (16, 8) if interp else (64, max(16, min(64, triton.next_power_of_2(K))))
    grid = (triton.cdiv(K, block_c), chunks)
    with device_context(input, interp):
        _backward_weight_partial_kernel[grid](
            grad_output, input, partial,
            npq, K, H, W, P, Q, K // C, chunk_len, *hyper,
            *grad_output.stride(), *input.stride(),
            R=R, S=S, INDEX_64=needs_int64(grad_output, input, slack=2),
            BLOCK_M=block_m, BLOCK_C=block_c)
    # Fixed-order sum over a fixed number of chunks: the same bits on every run.
    return partial.sum(0).view(K, 1, R, S).to(weight.dtype)
