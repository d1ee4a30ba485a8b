"""Checkerboard artifacts of transposed convolution vs resize-convolution, measured.

A transposed conv with kernel 3 and stride 2 overlaps unevenly: an output pixel of even
parity receives 1, 2 or 4 kernel taps depending on its position modulo 2, so even a
constant input paints a stride-periodic pattern (Odena, Dumoulin & Olah, "Deconvolution and
Checkerboard Artifacts", Distill 2016). A resize-convolution applies the same kernel at
every output pixel of the upsampled grid, so a constant input stays constant.

``checkerboard_score(y, stride)``: the fraction of the (mean-removed) energy of ``y`` that
sits at the stride's frequencies ``(a*H/s, b*W/s)``, ``(a, b) != (0, 0)``: 1 for a purely
stride-periodic pattern, ~0 for smooth content. Measured on the interior (a margin away
from the zero-padded border, which is a real edge for both layers).

``python -m convkernels.bench.resize_conv_artifacts [--png PATH] [--json PATH]`` runs the
study: three 8->16->32->64 decoders (transposed conv k3/s2, nearest and bilinear
resize-conv twins), each at random init and after a short fit of a smooth target, on
constant, linear-ramp and smooth-noise inputs. It is numerics, not timing: it runs on the
CPU in float64 (seconds), on the torch backend.
"""

from __future__ import annotations

import argparse
import json
from typing import Optional

import torch
import torch.nn.functional as F

from ..nn.resize_conv import ResizeConv2d

KINDS = ("conv_transpose", "nearest", "bilinear")
CHANNELS = (16, 8, 4, 1)  # 8x8 latent -> 64x64 image, three x2 stages


def checkerboard_score(y: torch.Tensor, stride: int = 2, margin: int = 0) -> float:
    """Energy at the stride's frequencies / total energy of ``y`` [N, C, H, W].

    Per map: the interior (``margin`` pixels in from each border) cropped to a multiple of
    ``stride``, mean removed, times a periodic Hann window, 2-D FFT. The window keeps a
    smooth but non-periodic map (a ramp) from leaking into the high bins; its transform has
    exactly three non-zero bins per axis, so a stride-periodic pattern lands in the 3x3
    bins around each stride frequency ``(a*H/s, b*W/s)``, ``(a, b) != (0, 0)``, which is
    what is counted: 1 for a purely stride-periodic map, ~0 for smooth content, 0 for a
    constant map.
    """
    if margin:
        y = y[..., margin:-margin, margin:-margin]
    H, W = (y.shape[-2] // stride) * stride, (y.shape[-1] // stride) * stride
    y = y[..., :H, :W].double()
    y = y - y.mean(dim=(-2, -1), keepdim=True)
    window = (torch.hann_window(H, periodic=True, dtype=torch.float64)[:, None]
              * torch.hann_window(W, periodic=True, dtype=torch.float64)[None, :])
    power = torch.fft.fft2(y * window).abs().pow(2).sum(dim=(0, 1))
    total = power.sum().item()
    if total <= 1e-30 * max(1, y.numel()):
        return 0.0
    mask = torch.zeros(H, W, dtype=torch.bool)
    for a in range(stride):
        for b in range(stride):
            if a == 0 and b == 0:
                continue
            for da in (-1, 0, 1):
                for db in (-1, 0, 1):
                    mask[(a * H // stride + da) % H, (b * W // stride + db) % W] = True
    return power[mask].sum().item() / total


def decoder(kind: str, seed: int = 0, channels=CHANNELS) -> torch.nn.Sequential:
    """Three x2 stages; ReLU between stages. The resize twins are built by
    ResizeConv2d.from_conv_transpose from the same transposed layers (3x3, padding 1)."""
    torch.manual_seed(seed)
    layers = []
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
        convT = torch.nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        layers.append(convT if kind == "conv_transpose" else
                      ResizeConv2d.from_conv_transpose(convT, mode=kind, backend="torch"))
        if i < len(channels) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).double()


def smooth_inputs(channels: int = CHANNELS[0], size: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size, dtype=torch.float64),
                            torch.linspace(-1, 1, size, dtype=torch.float64), indexing="ij")
    coeff = torch.randn(channels, 2, generator=g, dtype=torch.float64)
    ramp = coeff[:, :1, None] * yy + coeff[:, 1:, None] * xx
    noise = torch.randn(1, channels, 3, 3, generator=g, dtype=torch.float64)
    lowpass = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=True)
    return {"constant": torch.ones(1, channels, size, size, dtype=torch.float64),
            "ramp": ramp.unsqueeze(0), "smooth_noise": lowpass}


def smooth_target(size: int = 64) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size, dtype=torch.float64),
                            torch.linspace(0, 1, size, dtype=torch.float64), indexing="ij")
    return (torch.sin(3 * xx + 2 * yy) * torch.cos(2 * xx - yy)).view(1, 1, size, size)


def fit(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x), target)
        loss.backward()
        opt.step()
    return loss.item()


def study(fit_steps: int = 150, margin: int = 12) -> dict:
    """Scores for every decoder x {random init, fitted} x input; plus single layers."""
    inputs = smooth_inputs()
    rows, outputs = [], {}
    models = {k: decoder(k) for k in KINDS}
    for phase in ("random_init", "fitted"):
        if phase == "fitted":
            for k in KINDS:
                fit(models[k], inputs["smooth_noise"], smooth_target(), fit_steps)
        for k in KINDS:
            with torch.no_grad():
                for name, x in inputs.items():
                    y = models[k](x)
                    outputs[(phase, k, name)] = y
                    rows.append({"phase": phase, "layer": k, "input": name,
                                 "score": checkerboard_score(y, 2, margin)})
    # One layer on a ramp: bilinear upsampling keeps a ramp a ramp; nearest turns it into a
    # staircase, whose steps sit at the stride frequency whatever the kernel: image content.
    ramp = inputs["ramp"]
    single = []
    for k in KINDS:
        layer = decoder(k, seed=3, channels=(CHANNELS[0], 4))[0]
        with torch.no_grad():
            single.append({"layer": k, "input": "ramp",
                           "score": checkerboard_score(layer(ramp), 2, 2)})
    for mode in ("nearest", "bilinear"):
        up = F.interpolate(ramp, scale_factor=2, mode=mode,
                           align_corners=False if mode == "bilinear" else None)
        single.append({"layer": f"{mode} upsample alone", "input": "ramp",
                       "score": checkerboard_score(up, 2, 2)})
    return {"decoders": rows, "single_layer": single, "fit_steps": fit_steps,
            "margin": margin, "_outputs": outputs}


def markdown(result: dict) -> str:
    lines = ["| phase | input | conv_transpose | nearest | bilinear |", "|---|---|---|---|---|"]
    table: dict = {}
    for r in result["decoders"]:
        table.setdefault((r["phase"], r["input"]), {})[r["layer"]] = r["score"]
    for (phase, inp), scores in table.items():
        lines.append(f"| {phase} | {inp} | " + " | ".join(f"{scores[k]:.3g}" for k in KINDS)
                     + " |")
    lines += ["", "| one layer on a ramp | score |", "|---|---|"]
    lines += [f"| {r['layer']} | {r['score']:.3g} |" for r in result["single_layer"]]
    return "\n".join(lines)


def figure(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outputs = result["_outputs"]
    cases = [("random_init", "constant"), ("random_init", "smooth_noise"),
             ("fitted", "smooth_noise")]
    fig, axes = plt.subplots(len(cases), len(KINDS), figsize=(9.5, 9.5))
    for i, (phase, inp) in enumerate(cases):
        for j, k in enumerate(KINDS):
            y = outputs[(phase, k, inp)][0, 0]
            ax = axes[i][j]
            ax.imshow(y.numpy(), cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            score = checkerboard_score(outputs[(phase, k, inp)], 2, result["margin"])
            ax.set_title(f"{k}\n{phase.replace('_', ' ')}, {inp.replace('_', ' ')}\n"
                         f"checkerboard score {score:.2g}", fontsize=8)
    fig.suptitle("8x8 -> 64x64 decoders: transposed conv (k3, s2) vs resize-conv twins",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--png", help="write the figure here (docs/img/checkerboard.png)")
    parser.add_argument("--json", help="write the scores here (docs/img/checkerboard_scores.json)")
    parser.add_argument("--fit-steps", type=int, default=150)
    args = parser.parse_args(argv)
    result = study(args.fit_steps)
    print(markdown(result))
    if args.png:
        figure(result, args.png)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: v for k, v in result.items() if not k.startswith("_")}, f, indent=1)


if __name__ == "__main__":
    main()
