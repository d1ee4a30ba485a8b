"""Benchmark rows of resize_conv: decoder-style upsampling stacks (FCN / DCGAN-like
generators: 8x8 -> 16 -> 32 -> 64 -> 128, 512 -> 256 -> 128 -> 64 -> 64 channels), batch 16
and 64, against ``F.conv2d(F.interpolate(x))`` (interpolate + cuDNN conv).

Priority 0 (the headline targets): nearest x2 + 3x3 and bilinear x2 + 3x3, fp16 channels_last,
forward (target: >= 2x and >= 1.5x the baseline's geomean). The runner records ``peak_mb``
for every backend: the fused op must not allocate the upsampled tensor, whose size the row's
note states. Then x4 rows, NCHW and bf16/fp32 rows, and forward+backward rows.

FLOPs count the convolution on the upsampled grid (2*N*K*P*Q*C*R*S), the work of the
baseline; nearest's phase fold does only (ceil-ish (R/s + 1)^2 / R^2) of it, so its TFLOP/s
column reads as "equivalent" throughput. ``min_bytes`` (forward): input + weight + bias +
output once, never the upsampled image; forward+backward: 3x that (read x, w, grad_out;
write out, grad_x, grad_w, approximately).
"""

from __future__ import annotations

from convkernels.bench.opbench import OpCase, Workload

# (layer, C_in, C_out, H_in) of the decoder: every stage doubles the resolution.
DECODER = (("up1", 512, 256, 8), ("up2", 256, 128, 16), ("up3", 128, 64, 32),
           ("up4", 64, 64, 64))
# x4 stages (8 -> 32, 32 -> 128) of the same decoder with every other stage skipped.
DECODER_X4 = (("up1x4", 512, 128, 8), ("up3x4", 128, 64, 32))


def _build(case: OpCase, device: str) -> Workload:
    import torch
    import torch.nn.functional as F

    from convkernels import ops

    p = case.params
    N, C, K, H, s, k, mode = p["N"], p["C"], p["K"], p["H"], p["scale"], p["kernel"], p["mode"]
    dtype = case.torch_dtype()
    g = case.generator("cpu")
    train = case.mode == "fwd+bwd"
    x = torch.randn(N, C, H, H, generator=g).to(device, dtype).contiguous(
        memory_format=case.memory_format()).requires_grad_(train)
    w = (torch.randn(K, C, k, k, generator=g) / (C * k * k) ** 0.5).to(device, dtype)
    w = w.contiguous(memory_format=case.memory_format()).requires_grad_(train)
    b = torch.randn(K, generator=g).to(device, dtype).requires_grad_(train)
    pad = k // 2
    align = False if mode == "bilinear" else None

    def eager(x, w, b):
        up = F.interpolate(x, scale_factor=s, mode=mode, align_corners=align)
        return F.conv2d(up, w, b, padding=pad)

    def ours(backend):
        return lambda x, w, b: ops.resize_conv2d(x, w, b, s, mode, pad, 1, backend=backend)

    P = s * H
    elt = x.element_size()
    io = (x.numel() + w.numel() + b.numel() + N * K * P * P) * elt
    up_mb = N * C * P * P * elt / 2**20
    return Workload(inputs=(x, w, b), eager=eager, ours=ours,
                    min_bytes=float(io * (3 if train else 1)),
                    flops=2.0 * N * K * P * P * C * k * k,
                    note=f"baseline materializes a {up_mb:.0f} MiB upsampled input")


def _case(layer, C, K, H, N, mode, scale, dtype, layout, run_mode, priority) -> OpCase:
    return OpCase(suite="resize_conv", op="resize_conv2d", mode=run_mode,
                  network="decoder", layer=layer,
                  params={"N": N, "C": C, "K": K, "H": H, "scale": scale, "kernel": 3,
                          "mode": mode},
                  dtype=dtype, layout=layout, priority=priority, build=_build,
                  variant=f"{mode}x{scale}")


def cases() -> list[OpCase]:
    out = []
    for mode in ("nearest", "bilinear"):
        for N in (16, 64):
            for layer, C, K, H in DECODER:
                out.append(_case(layer, C, K, H, N, mode, 2, "fp16", "channels_last", "fwd", 0))
                out.append(_case(layer, C, K, H, N, mode, 2, "fp16", "nchw", "fwd", 2))
                out.append(_case(layer, C, K, H, N, mode, 2, "bf16", "channels_last", "fwd", 3))
                out.append(_case(layer, C, K, H, N, mode, 2, "fp32", "channels_last", "fwd", 4))
            for layer, C, K, H in DECODER_X4:
                out.append(_case(layer, C, K, H, N, mode, 4, "fp16", "channels_last", "fwd", 1))
        for layer, C, K, H in DECODER:
            out.append(_case(layer, C, K, H, 16, mode, 2, "fp16", "channels_last", "fwd+bwd", 2))
    return out
