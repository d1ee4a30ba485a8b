"""Winograd F(m x m, 3x3) convolution in Triton: one fused kernel per call, plus the filter
transform.

Each program owns BLOCK_T output tiles (m x m pixels each, flattened over N x TH x TW) and
BLOCK_K output channels, and loops over C in BLOCK_C slices:

1. gather the (m+2) x (m+2) input patches of its tiles: d [BLOCK_T, BLOCK_C, AP] (AP =
   alpha^2 padded to a power of two; the padding halo and ragged border tiles are masked
   to zero),
2. input transform as one small GEMM: V = d @ kron(B^T, B^T)^T in fp32 (exact IEEE fp32),
   then V is rounded to the input dtype: the tensor-core operand,
3. per point (xi, nu), V[xi nu] [BLOCK_T, BLOCK_C] @ U[xi nu] [BLOCK_C, BLOCK_K]: one
   batched tl.dot over the AP points, fp32 accumulation.

After the C loop the accumulator [AP, BLOCK_T, BLOCK_K] gets the output transform as one
GEMM with kron(A^T, A^T)^T, then the epilogue (scale, shift, residual, ReLU) in fp32 and
one rounding on store, cropped to P x Q. V never leaves the chip: no workspace beyond the
cached transformed filter U [alpha^2, K, C].

Status: correctness-first. Verified under the interpreter only; the per-program
accumulator (AP x BLOCK_T x BLOCK_K fp32) is register-heavy for F(4x4) and has not been
tuned on a GPU.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from ..reference import winograd as ref
from ._common import (
    conv_fp32_precision,
    device_context,
    is_interpreted,
    needs_int64,
    output_memory_format,
    round_to_bf16_rtne,
)


@triton.jit
def winograd_fused_kernel(
    x_ptr,  # [N, C, H, W] any strides
    u_ptr,  # [ALPHA*ALPHA, K, C] contiguous: transformed filter in the input dtype
    bt_ptr,  # [AP, AP] fp32: kron(B^T, B^T)^T zero-padded (input transform)
    at_ptr,  # [AP, MP] fp32: kron(A^T, A^T)^T zero-padded (output transform)
    scale_ptr,  # [K] fp32, read iff HAS_SCALE
    shift_ptr,  # [K] fp32, read iff HAS_SHIFT
    res_ptr,  # [N, K, P, Q] any strides, read iff HAS_RESIDUAL
    out_ptr,  # [N, K, P, Q] any strides
    T, C, H, W, K, P, Q, TH, TW, pad_h, pad_w,  # T = N * TH * TW tiles
    sx_n, sx_c, sx_h, sx_w,
    sr_n, sr_k, sr_p, sr_q,
    so_n, so_k, so_p, so_q,
    M_TILE: tl.constexpr, ALPHA: tl.constexpr, AP: tl.constexpr, MP: tl.constexpr,
    HAS_SCALE: tl.constexpr, HAS_SHIFT: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
    RELU: tl.constexpr, INDEX_64: tl.constexpr, DOT_FP32: tl.constexpr,
    BF16_RTNE: tl.constexpr, INPUT_PRECISION: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_t = tl.program_id(0)
    pid_k = tl.program_id(1)
    rt = tl.arange(0, BLOCK_T)
    if INDEX_64:
        t = pid_t.to(tl.int64) * BLOCK_T + rt
    else:
        t = pid_t * BLOCK_T + rt
    kk = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    t_ok = t < T
    k_ok = kk < K
    tiles_per_img = TH * TW
    n_img = t // tiles_per_img
    rem = t - n_img * tiles_per_img
    ty = rem // TW
    tx = rem - ty * TW
    h0 = ty * M_TILE - pad_h  # top-left input row / column of each tile's patch
    w0 = tx * M_TILE - pad_w

    e = tl.arange(0, AP)  # patch element (i, j) = (e // ALPHA, e % ALPHA)
    ei = e // ALPHA
    ej = e - ei * ALPHA
    e_ok = e < ALPHA * ALPHA
    ih = h0[:, None] + ei[None, :]  # [BLOCK_T, AP]
    iw = w0[:, None] + ej[None, :]
    pix_ok = t_ok[:, None] & e_ok[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
    pix_off = n_img[:, None] * sx_n + ih * sx_h + iw * sx_w  # [BLOCK_T, AP]

    ra = tl.arange(0, AP)
    bt = tl.load(bt_ptr + ra[:, None] * AP + ra[None, :])  # [AP, AP]
    rc = tl.arange(0, BLOCK_C)

    acc = tl.zeros((AP, BLOCK_T, BLOCK_K), dtype=tl.float32)
    for c0 in range(0, C, BLOCK_C):
        c = c0 + rc
        c_ok = c < C
        d_ptrs = x_ptr + (pix_off[:, None, :] + (c * sx_c)[None, :, None])
        d = tl.load(d_ptrs, mask=pix_ok[:, None, :] & c_ok[None, :, None], other=0.0)
        d2 = tl.reshape(d.to(tl.float32), (BLOCK_T * BLOCK_C, AP))
        v = tl.dot(d2, bt, input_precision="ieee")  # [BLOCK_T * BLOCK_C, AP]
        v = tl.permute(tl.reshape(v, (BLOCK_T, BLOCK_C, AP)), (2, 0, 1))
        if BF16_RTNE:
            v = round_to_bf16_rtne(v)
        v = v.to(u_ptr.dtype.element_ty)  # round V once: the GEMM operand
        u_ptrs = u_ptr + ((e * K)[:, None, None] + kk[None, None, :]) * C + c[None, :, None]
        u = tl.load(u_ptrs, mask=e_ok[:, None, None] & c_ok[None, :, None] & k_ok[None, None, :],
                    other=0.0)  # [AP, BLOCK_C, BLOCK_K]
        if DOT_FP32:
            v = v.to(tl.float32)
            u = u.to(tl.float32)
        acc = tl.dot(v, u, acc, input_precision=INPUT_PRECISION)

    # Output transform: [BLOCK_T * BLOCK_K, AP] @ [AP, MP] in fp32.
    rm = tl.arange(0, MP)
    at = tl.load(at_ptr + ra[:, None] * MP + rm[None, :])
    y = tl.reshape(tl.permute(acc, (1, 2, 0)), (BLOCK_T * BLOCK_K, AP))
    y = tl.reshape(tl.dot(y, at, input_precision="ieee"), (BLOCK_T, BLOCK_K, MP))

    oi = rm // M_TILE
    oj = rm - oi * M_TILE
    p = (ty * M_TILE)[:, None] + oi[None, :]  # [BLOCK_T, MP]
    q = (tx * M_TILE)[:, None] + oj[None, :]
    pq_ok = t_ok[:, None] & (rm < M_TILE * M_TILE)[None, :] & (p < P) & (q < Q)
    out_mask = pq_ok[:, None, :] & k_ok[None, :, None]  # [BLOCK_T, BLOCK_K, MP]
    if HAS_SCALE:
        y = y * tl.load(scale_ptr + kk, mask=k_ok, other=0.0)[None, :, None]
    if HAS_SHIFT:
        y = y + tl.load(shift_ptr + kk, mask=k_ok, other=0.0)[None, :, None]
    if HAS_RESIDUAL:
        r_off = ((n_img[:, None] * sr_n + p * sr_p + q * sr_q)[:, None, :]
                 + (kk * sr_k)[None, :, None])
        y = y + tl.load(res_ptr + r_off, mask=out_mask, other=0.0).to(tl.float32)
    if RELU:
        y = tl.where(y < 0.0, 0.0, y)  # keeps NaN, as torch.relu does
    if BF16_RTNE:
        y = round_to_bf16_rtne(y)
    o_off = (n_img[:, None] * so_n + p * so_p + q * so_q)[:, None, :] + (kk * so_k)[None, :, None]
    tl.store(out_ptr + o_off, y.to(out_ptr.dtype.element_ty), mask=out_mask)


@triton.jit
def _filter_transform_kernel(
    w_ptr,  # [K, C, 3, 3] any strides
    g_ptr,  # [AP, 16] fp32: kron(G, G) zero-padded (9 taps padded to 16)
    u_ptr,  # [ALPHA*ALPHA, K, C] contiguous
    KC, C, sw_k, sw_c, sw_r, sw_s,
    A2: tl.constexpr, AP: tl.constexpr, BF16_RTNE: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    idx = pid * BLOCK + tl.arange(0, BLOCK)  # flattened (k, c)
    ok = idx < KC
    k = idx // C
    c = idx - k * C
    tap = tl.arange(0, 16)
    r = tap // 3
    s = tap - r * 3
    w = tl.load(w_ptr + (k * sw_k + c * sw_c)[:, None] + (r * sw_r + s * sw_s)[None, :],
                mask=ok[:, None] & (tap < 9)[None, :], other=0.0).to(tl.float32)
    ra = tl.arange(0, AP)
    g = tl.load(g_ptr + ra[:, None] * 16 + tap[None, :])  # [AP, 16]
    u = tl.sum(w[:, None, :] * g[None, :, :], axis=2)  # [BLOCK, AP] fp32 sums
    if BF16_RTNE:
        u = round_to_bf16_rtne(u)
    tl.store(u_ptr + ra[None, :] * KC + idx[:, None], u.to(u_ptr.dtype.element_ty),
             mask=ok[:, None] & (ra < A2)[None, :])


def _pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


@functools.lru_cache(maxsize=None)
def _matrices_cpu(m: int):
    at, g, bt = ref.transform_tensors(m, dtype=torch.float64)
    alpha = m + 2
    ap, mp = _pow2(alpha * alpha), max(16, _pow2(m * m))
    btk = torch.zeros(ap, ap, dtype=torch.float64)
    btk[:alpha * alpha, :alpha * alpha] = torch.kron(bt, bt).T  # V_row = d_row @ this
    atk = torch.zeros(ap, mp, dtype=torch.float64)
    atk[:alpha * alpha, :m * m] = torch.kron(at, at).T
    gk = torch.zeros(ap, 16, dtype=torch.float64)
    gk[:alpha * alpha, :9] = torch.kron(g, g)
    return btk.float(), atk.float(), gk.float(), ap, mp


_device_matrices: dict = {}


def _matrices(m: int, device: torch.device):
    key = (m, device)
    if key not in _device_matrices:
        btk, atk, gk, ap, mp = _matrices_cpu(m)
        _device_matrices[key] = (btk.to(device), atk.to(device), gk.to(device), ap, mp)
    return _device_matrices[key]


def filter_transform(weight: torch.Tensor, m: int) -> torch.Tensor:
    """U = G g G^T: weight [K, C, 3, 3] -> [alpha^2, K, C] in the weight's dtype (fp32 math,
    one rounding)."""
    K, C = weight.shape[:2]
    alpha = m + 2
    out = torch.empty((alpha * alpha, K, C), dtype=weight.dtype, device=weight.device)
    if out.numel() == 0:
        return out
    _, _, gk, ap, _ = _matrices(m, weight.device)
    interp = is_interpreted(_filter_transform_kernel)
    block = 64
    with device_context(weight, interp):
        _filter_transform_kernel[(triton.cdiv(K * C, block),)](
            weight, gk, out, K * C, C, *weight.stride(), A2=alpha * alpha, AP=ap,
            BF16_RTNE=interp and weight.dtype == torch.bfloat16, BLOCK=block)
    return out


def launch_blocks(m: int, interp: bool, dtype: torch.dtype) -> tuple[int, int, int, int]:
    """(BLOCK_T, BLOCK_C, BLOCK_K, num_warps): the accumulator is AP x BLOCK_T x BLOCK_K."""
    if interp:
        return 16, 16, 16, 4
    if m == 2:
        return 32, 16, 32, 4
    return 16, 16, 16, 4


def conv2d_fused(input, transformed_weight, scale, shift, residual, padding, m, relu, *,
                 index64=None):
    """act(winograd_conv3x3(input) * scale[k] + shift[k] + residual), stride 1.

    input [N, C, H, W] (fp32/fp16/bf16, any strides); transformed_weight from
    :func:`filter_transform` ([alpha^2, K, C], input dtype); scale, shift fp32 [K] or
    None; residual [N, K, P, Q] or None. Returns [N, K, P, Q] in the input's memory format.
    """
    ph, pw = (int(v) for v in padding)
    N, C, H, W = input.shape
    alpha = m + 2
    A2, K, Cu = transformed_weight.shape
    if A2 != alpha * alpha or Cu != C:
        raise ValueError(f"winograd_conv2d_fused (triton): transformed weight "
                         f"{tuple(transformed_weight.shape)} does not match F({m}x{m},3x3) "
                         f"and input channels {C}")
    P, Q = H + 2 * ph - 2, W + 2 * pw - 2
    out = torch.empty((N, K, P, Q), dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    if out.numel() == 0:
        return out
    TH, TW = ref.tile_counts(P, Q, m)
    T = N * TH * TW
    u = transformed_weight.contiguous()
    btk, atk, _, ap, mp = _matrices(m, input.device)
    interp = is_interpreted(winograd_fused_kernel)
    if index64 is None:
        # Patches start up to pad + (m - 1) outside the image: slack 2.
        index64 = needs_int64(input, residual, out, slack=2)
    block_t, block_c, block_k, warps = launch_blocks(m, interp, input.dtype)
    placeholder = out
    grid = (triton.cdiv(T, block_t), triton.cdiv(K, block_k))
    with device_context(input, interp):
        winograd_fused_kernel[grid](
            input, u, btk, atk,
            scale.contiguous() if scale is not None else placeholder,
            shift.contiguous() if shift is not None else placeholder,
            residual if residual is not None else placeholder,
            out,
            T, C, H, W, K, P, Q, TH, TW, ph, pw,
            *input.stride(),
            *(residual.stride() if residual is not None else (0, 0, 0, 0)),
            *out.stride(),
            M_TILE=m, ALPHA=alpha, AP=ap, MP=mp,
            HAS_SCALE=scale is not None, HAS_SHIFT=shift is not None,
            HAS_RESIDUAL=residual is not None, RELU=bool(relu), INDEX_64=bool(index64),
            DOT_FP32=interp and input.dtype != torch.float32,
            BF16_RTNE=interp and input.dtype == torch.bfloat16,
            INPUT_PRECISION=conv_fp32_precision() if input.dtype == torch.float32 else "ieee",
            BLOCK_T=block_t, BLOCK_C=block_c, BLOCK_K=block_k, num_warps=warps)
    return out
