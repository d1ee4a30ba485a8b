"""Zeiler & Fergus's deconvnet (Zeiler & Fergus 2014): project one chosen activation of a
conv net back to pixel space.

The forward pass records, at every max-pool, where each maximum came from (the "switches").
Projection starts from the chosen layer's output with everything zeroed except the chosen
activation (one channel's strongest unit by default) and walks the layers backwards:
max-pool -> unpool into the recorded switch positions (``MaxUnpool2d``); ReLU -> ReLU (the
reconstruction is kept non-negative, as in the paper); conv -> the same filters transposed
(``conv_transpose2d`` with the conv's weight, no bias). LRN and Identity layers are passed
through, as the paper does for contrast normalization.

    >>> net = convkernels.models.get_model("zfnet").eval()
    >>> dn = convkernels.models.deconvnet.DeconvNet(net.features)
    >>> pixels = dn.project(image, layer=4, channel=10)        # [1, 3, 224, 224]
    >>> convkernels.models.deconvnet.save_image(pixels, "conv2_ch10.png")
"""

from __future__ import annotations

import struct
import zlib
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import LRNMaxPool2d
from ._fused import ConvReLU2d
from ._layers import MaxUnpool2d

__all__ = ["DeconvNet", "save_image"]


class DeconvNet:
    """Deconvnet over ``features``: an ``nn.Sequential`` of Conv2d (incl. ``ConvReLU2d``),
    ReLU, MaxPool2d, LocalResponseNorm and Identity layers (AlexNet/ZFNet/VGG ``features``)."""

    def __init__(self, features: nn.Sequential):
        self.layers = _unfused(list(features))
        for i, m in enumerate(self.layers):
            if not isinstance(m, (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.LocalResponseNorm,
                                  nn.Identity, nn.Dropout)):
                raise TypeError(f"DeconvNet: layer {i} ({type(m).__name__}) has no "
                                f"deconvnet inverse")

    @torch.no_grad()
    def forward(self, x: Tensor, upto: int) -> tuple[Tensor, list]:
        """Run layers ``0..upto``; return the activation and, per layer, what the way back
        needs (input size, pooling switches)."""
        trace = []
        for m in self.layers[:upto + 1]:
            size = x.shape[-2:]
            if isinstance(m, nn.MaxPool2d):
                x, switches = F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation,
                                           ceil_mode=m.ceil_mode, return_indices=True)
                trace.append((size, switches))
            else:
                x = m(x)
                trace.append((size, None))
        return x, trace

    @torch.no_grad()
    def project(self, image: Tensor, layer: int, channel: int,
                position: Optional[tuple[int, int]] = None) -> Tensor:
        """Pixels that the activation ``(channel, position)`` of layer ``layer`` (an index into
        ``features``) sees; ``position`` defaults to that channel's strongest unit. ``image``
        is ``[1, C, H, W]``; the result has its shape."""
        act, trace = self.forward(image, layer)
        if position is None:
            flat = int(act[0, channel].argmax())
            position = divmod(flat, act.shape[-1])
        x = torch.zeros_like(act)
        x[0, channel, position[0], position[1]] = act[0, channel, position[0], position[1]]
        for m, (size, switches) in zip(reversed(self.layers[:layer + 1]), reversed(trace)):
            x = self._invert(m, x, size, switches)
        return x

    @staticmethod
    def _invert(m: nn.Module, x: Tensor, size, switches) -> Tensor:
        if isinstance(m, nn.MaxPool2d):
            unpool = MaxUnpool2d(m.kernel_size, m.stride, m.padding)
            return unpool(x, switches, output_size=size)
        if isinstance(m, nn.ReLU):
            return torch.relu(x)
        if isinstance(m, nn.Conv2d):
            if isinstance(m, ConvReLU2d):  # its ReLU came after the conv: undo it first
                x = torch.relu(x)
            return _transposed(m, x, size)
        return x  # LRN, Identity, Dropout: passed through


def _unfused(layers: list) -> list:
    """An ``LRNMaxPool2d`` followed by the ``Identity`` left in its partner's slot (what
    ``fuse_lrn_max_pool`` makes) becomes its two layers again, in their order and slots: the
    way back needs the pool's switches and indices must keep matching ``features``."""
    out, i = [], 0
    while i < len(layers):
        m = layers[i]
        if (isinstance(m, LRNMaxPool2d) and i + 1 < len(layers)
                and isinstance(layers[i + 1], nn.Identity)):
            out += [m.lrn, m.pool] if m.order == "lrn_pool" else [m.pool, m.lrn]
            i += 2
            continue
        out.append(m)
        i += 1
    return out


def _transposed(conv: nn.Conv2d, x: Tensor, size) -> Tensor:
    """The conv's filters applied transposed, sized back to the conv's input."""
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    kh, kw = conv.kernel_size
    base = ((x.shape[-2] - 1) * sh - 2 * ph + dh * (kh - 1) + 1,
            (x.shape[-1] - 1) * sw - 2 * pw + dw * (kw - 1) + 1)
    out_pad = (size[0] - base[0], size[1] - base[1])
    return F.conv_transpose2d(x, conv.weight, None, conv.stride, conv.padding, out_pad,
                              conv.groups, conv.dilation)


def save_image(pixels: Tensor, path: str) -> None:
    """Write ``[1, C, H, W]`` or ``[C, H, W]`` (C = 1 or 3) as an 8-bit PNG, contrast-stretched
    to the full range (a reconstruction's scale is arbitrary). No imaging library needed."""
    x = pixels.detach().float().cpu()
    x = x[0] if x.dim() == 4 else x
    lo, hi = x.min(), x.max()
    x = ((x - lo) / (hi - lo).clamp_min(1e-12) * 255).round().to(torch.uint8)
    c, h, w = x.shape
    if c not in (1, 3):
        raise ValueError(f"save_image: 1 or 3 channels, got {c}")
    rows = x.permute(1, 2, 0).reshape(h, w * c)
    raw = b"".join(b"\x00" + bytes(row.tolist()) for row in rows)  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
