"""Locally connected 2-D convolution (unshared weights) in Triton.

Every output position l = (p, q) is its own small GEMM: out[:, :, p, q] = A_l @ B_l with
A_l = the input patches at l, [N, J] (J = C*R*S, gathered through the input's strides,
padding masked: no im2col buffer) and B_l = weight[p, q], [J, K]. One program computes a
[BLOCK_N, BLOCK_K] tile of one position, reducing over J in BLOCK_J steps with tl.dot on an
fp32 accumulator. The weight is used only N times per element (once per image), so the op
is weight-bandwidth bound at small batch: the weight is made contiguous as [P*Q, K, J] so
each B tile is read along its contiguous J axis, and the grid puts the batch tiles of one
position next to each other (program_id 1) so they share the position's weights in L2.

Epilogue: + bias[k, p, q] (untied bias) in fp32, one rounding on store through the output's
strides (the output follows the input's memory format).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._checks import pair
from ._common import (
    conv_fp32_precision,
    device_context,
    fit_configs,
    is_interpreted,
    needs_int64,
    output_memory_format,
    round_to_bf16_rtne,
)


@triton.jit
def _local_conv2d_kernel(
    x_ptr,      # [N, C, H, W], any strides
    w_ptr,      # [P*Q, K, J] contiguous, J = C*R*S in (c, r, s) order
    b_ptr,      # [K, P*Q] contiguous (or a placeholder when HAS_BIAS is False)
    out_ptr,    # [N, K, P, Q], any strides
    N, C, H, W, K, P, Q, R, S,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sxn, sxc, sxh, sxw,
    son, sok, sop, soq,
    HAS_BIAS: tl.constexpr,
    INDEX_64: tl.constexpr,     # 64-bit offsets (a tensor spans more than 2^31 elements)
    DOT_FP32: tl.constexpr,     # upcast operands before tl.dot (the interpreter has no bf16 dot)
    BF16_RTNE: tl.constexpr,    # round bf16 output explicitly (the interpreter truncates)
    INPUT_PRECISION: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_J: tl.constexpr,
):
    pos = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    if INDEX_64:
        pos = pos.to(tl.int64)
    p = pos // Q
    q = pos % Q
    J = C * R * S
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    if INDEX_64:
        offs_n = offs_n.to(tl.int64)
        offs_k = offs_k.to(tl.int64)
    n_ok = offs_n < N
    k_ok = offs_k < K
    w_base = w_ptr + pos * K * J
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    for j0 in range(0, J, BLOCK_J):
        offs_j = j0 + tl.arange(0, BLOCK_J)
        c = offs_j // (R * S)
        rs = offs_j % (R * S)
        h = p * stride_h - pad_h + (rs // S) * dil_h
        w = q * stride_w - pad_w + (rs % S) * dil_w
        j_ok = offs_j < J
        inside = j_ok & (h >= 0) & (h < H) & (w >= 0) & (w < W)
        a = tl.load(x_ptr + offs_n[:, None] * sxn + (c * sxc + h * sxh + w * sxw)[None, :],
                    mask=n_ok[:, None] & inside[None, :], other=0.0)          # [BN, BJ]
        b = tl.load(w_base + offs_k[None, :] * J + offs_j[:, None],
                    mask=j_ok[:, None] & k_ok[None, :], other=0.0)            # [BJ, BK]
        if DOT_FP32:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION)
    if HAS_BIAS:
        bias = tl.load(b_ptr + offs_k * (P * Q) + pos, mask=k_ok, other=0.0)
        acc += bias.to(tl.float32)[None, :]
    if BF16_RTNE:
        acc = round_to_bf16_rtne(acc)
    out = out_ptr + offs_n[:, None] * son + offs_k[None, :] * sok + p * sop + q * soq
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=n_ok[:, None] & k_ok[None, :])


def _configs():
    return [triton.Config({"BLOCK_N": bn, "BLOCK_K": bk, "BLOCK_J": bj}, num_warps=nw,
                          num_stages=3)
            for bn, bk, bj, nw in ((16, 16, 64, 2), (16, 32, 64, 4), (32, 32, 32, 4),
                                   (64, 32, 32, 4), (64, 64, 32, 4), (128, 32, 32, 8))]


def _prune(configs, named_args, **kwargs):
    """Only configs that fit the GPU (shared memory for the pipelined tiles, registers for
    the accumulator)."""
    args = {**named_args, **kwargs}
    elt = args["x_ptr"].element_size() if "x_ptr" in args else 4
    return fit_configs(
        configs,
        lambda c: (c.kwargs["BLOCK_N"] + c.kwargs["BLOCK_K"]) * c.kwargs["BLOCK_J"] * elt,
        lambda c: c.kwargs["BLOCK_N"] * c.kwargs["BLOCK_K"])


_local_conv2d_tuned = triton.autotune(
    configs=_configs(),
    key=["N", "K", "C", "R", "S", "HAS_BIAS", "INDEX_64", "INPUT_PRECISION"],
    prune_configs_by={"early_config_prune": _prune},
)(_local_conv2d_kernel)

_INTERPRET_CONFIG = {"BLOCK_N": 16, "BLOCK_K": 16, "BLOCK_J": 16}


def local_conv2d(input, weight, bias, stride, padding, dilation, *, index64=None):
    """Locally connected conv: input [N, C, H, W] (any strides), weight [P, Q, K, C, R, S],
    bias [K, P, Q] or None; fp32/fp16/bf16. Returns [N, K, P, Q] in the input's memory
    format. ``index64`` forces (True) or forbids (False) 64-bit offsets; None decides by the
    tensors' extents."""
    sh, sw = pair("triton.local_conv2d", "stride", stride)
    ph, pw = pair("triton.local_conv2d", "padding", padding)
    dh, dw = pair("triton.local_conv2d", "dilation", dilation)
    N, C, H, W = input.shape
    P, Q, K, Cw, R, S = weight.shape
    if Cw != C:
        raise ValueError(f"local_conv2d (triton): weight {tuple(weight.shape)} does not match "
                         f"input channels {C}")
    out = torch.empty((N, K, P, Q), dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    if out.numel() == 0:
        return out
    weight = weight.reshape(P * Q, K, C * R * S)
    weight = weight if weight.is_contiguous() else weight.contiguous()
    if bias is not None:
        bias = bias.contiguous()
    if index64 is None:
        index64 = needs_int64(input, weight, out, bias, slack=2)
    interp = is_interpreted(_local_conv2d_kernel)
    args = (input, weight, bias if bias is not None else out, out,
            N, C, H, W, K, P, Q, R, S, sh, sw, ph, pw, dh, dw,
            *input.stride(), *out.stride())
    meta = dict(HAS_BIAS=bias is not None, INDEX_64=bool(index64),
                DOT_FP32=interp and input.dtype == torch.bfloat16,
                BF16_RTNE=interp and input.dtype == torch.bfloat16,
                INPUT_PRECISION=conv_fp32_precision() if input.dtype == torch.float32
                else "ieee")

    def grid(cfg):
        return (P * Q, triton.cdiv(N, cfg["BLOCK_N"]), triton.cdiv(K, cfg["BLOCK_K"]))

    with device_context(input, interp):
        if interp:
            _local_conv2d_kernel[grid(_INTERPRET_CONFIG)](*args, **meta, **_INTERPRET_CONFIG)
        else:
            _local_conv2d_tuned[grid](*args, **meta)
    return out
