"""An FCN/DCGAN-style upsampling decoder: latent -> 4x4 -> 32x32
image in three x2 steps. ``upsample="resize"`` (default) makes each step a resize-convolution
(nearest upsample, then a 3x3 conv), Odena et al.'s fix for checkerboard artifacts;
``upsample="transposed"`` is the twin with a 3x3 stride-2 transposed conv, whose uneven
kernel overlap (kernel 3 not divisible by stride 2) paints the checkerboard.
:func:`checkerboard_energy` measures it.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._layers import ResizeConv2d
from ._registry import register


def upsample_x2(cin, cout, mode: str, backend=None) -> nn.Module:
    if mode == "resize":
        return ResizeConv2d(cin, cout, 3, scale_factor=2, mode="nearest", bias=False,
                            backend=backend)
    if mode == "transposed":
        return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1,
                                  bias=False)
    raise ValueError(f"upsample must be 'resize' or 'transposed', got {mode!r}")


class Decoder(nn.Module):
    def __init__(self, latent_dim: int = 100, out_channels: int = 3, width: int = 256,
                 upsample: str = "resize", backend: Optional[str] = None):
        super().__init__()
        self.width = width
        self.project = nn.Linear(latent_dim, width * 4 * 4)
        chans = (width, width // 2, width // 4, width // 8)
        steps = []
        for cin, cout in zip(chans, chans[1:]):
            steps += [upsample_x2(cin, cout, upsample, backend), nn.BatchNorm2d(cout),
                      nn.ReLU(inplace=True)]
        self.up = nn.Sequential(*steps)
        self.to_image = ck_nn.Conv2d(chans[-1], out_channels, 3, padding=1, backend=backend)

    def forward(self, z: Tensor) -> Tensor:
        x = self.project(z).view(-1, self.width, 4, 4)
        return torch.tanh(self.to_image(self.up(x)))


def checkerboard_energy(image: Tensor, border: int = 2) -> Tensor:
    """Share of the interior's (mean-removed) energy in the period-2 patterns a stride-2
    upsampler leaves: the 2x2 phase means' spread over the overall spread, per image.
    0 for a smooth image; near 1 for a pure checkerboard."""
    x = image[..., border:image.shape[-2] - border, border:image.shape[-1] - border]
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    phases = x.unflatten(-2, (h // 2, 2)).unflatten(-1, (w // 2, 2)).mean(dim=(-4, -2))
    return (phases.square().mean(dim=(-2, -1)) / x.square().mean(dim=(-2, -1)).clamp_min(1e-12)
            ).mean(dim=-1)


@register("decoder_resize", input_size=(100,))
def decoder_resize(*, latent_dim: int = 100, out_channels: int = 3,
                   backend: Optional[str] = None) -> Decoder:
    """Upsampling decoder with resize-convolutions (no checkerboard)."""
    return Decoder(latent_dim, out_channels, upsample="resize", backend=backend)


@register("decoder_transposed", input_size=(100,))
def decoder_transposed(*, latent_dim: int = 100, out_channels: int = 3,
                       backend: Optional[str] = None) -> Decoder:
    """The transposed-conv twin of :func:`decoder_resize` (checkerboard artifacts)."""
    return Decoder(latent_dim, out_channels, upsample="transposed", backend=backend)
