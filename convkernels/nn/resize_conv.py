"""``convkernels.nn.ResizeConv2d``: upsample-then-convolve as one layer, the checkerboard-free
replacement for a strided ``ConvTranspose2d`` (Odena, Dumoulin & Olah, Distill 2016)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ..ops.resize_conv_checks import RESIZE_MODES
from ._common import runs_torch_form


class ResizeConv2d(torch.nn.Conv2d):
    """``Conv2d(Upsample(scale_factor, mode)(x))`` on :func:`convkernels.ops.resize_conv2d`.

    A ``torch.nn.Conv2d`` subclass: ``weight`` / ``bias``, their initialization and
    ``state_dict`` keys are those of the conv in an ``nn.Upsample`` -> ``nn.Conv2d`` pair, so
    the pair's conv state loads as is. ``padding`` defaults to ``kernel_size // 2`` (the
    output is then ``scale_factor`` times the input for odd kernels and stride 1). Only
    groups=1, dilation=1 and zero padding (what the fused kernels implement).

    Example::

        >>> up = convkernels.nn.ResizeConv2d(64, 32, 3, scale_factor=2, mode="bilinear")
        >>> up(torch.randn(1, 64, 16, 16)).shape
        torch.Size([1, 32, 32, 32])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, scale_factor: int = 2,
                 mode: str = "nearest", stride=1, padding=None, bias: bool = True, *,
                 align_corners: bool = False, device=None, dtype=None,
                 backend: Optional[str] = None):
        if mode not in RESIZE_MODES:
            raise ValueError(f"ResizeConv2d: mode must be one of {RESIZE_MODES}, got {mode!r}")
        if isinstance(scale_factor, bool) or not isinstance(scale_factor, int) \
                or scale_factor < 1:
            raise ValueError(f"ResizeConv2d: scale_factor must be an integer >= 1, got "
                             f"{scale_factor!r}")
        if align_corners and mode == "nearest":
            raise ValueError("ResizeConv2d: align_corners=True needs mode='bilinear'")
        ks = torch.nn.modules.utils._pair(kernel_size)
        if padding is None:
            padding = (ks[0] // 2, ks[1] // 2)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=padding, bias=bias, device=device, dtype=dtype)
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.backend = backend

    def forward(self, input: Tensor) -> Tensor:
        if runs_torch_form(self.backend, input, self.in_channels):
            # The nn.Upsample -> nn.Conv2d pair this module stands for.
            up = F.interpolate(input, scale_factor=self.scale_factor, mode=self.mode,
                               align_corners=self.align_corners if self.mode == "bilinear"
                               else None)
            return F.conv2d(up, self.weight, self.bias, self.stride, self.padding)
        return ops.resize_conv2d(input, self.weight, self.bias, self.scale_factor, self.mode,
                                 self.padding, self.stride, align_corners=self.align_corners,
                                 backend=self.backend)

    def extra_repr(self) -> str:
        s = (f"{super().extra_repr()}, scale_factor={self.scale_factor}, "
             f"mode={self.mode!r}")
        if self.align_corners:
            s += ", align_corners=True"
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        return s

    @classmethod
    def from_conv_transpose(cls, conv: torch.nn.ConvTranspose2d, *, mode: str = "nearest",
                            backend: Optional[str] = None) -> "ResizeConv2d":
        """Propose the resize-conv replacement of ``conv`` (freshly initialized).

        The proposal upsamples by the transposed conv's stride and picks a kernel and
        padding so that its output has the transposed conv's output size for *every* input
        size: ``s*H + 2p' - k' + 1 == (H - 1)*s - 2p + k + output_padding``. ``k'`` is the
        transposed kernel rounded down to odd (3 for DCGAN's 4x4), made even only when the
        parity of the sizes leaves no odd choice, and grown until ``p' >= 0``. The weights
        are not converted (no resize-conv equals a transposed conv); train or fine-tune.

        Example::

            >>> convT = torch.nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
            >>> ResizeConv2d.from_conv_transpose(convT)   # 3x3, scale 2, padding 1
        """
        if not isinstance(conv, torch.nn.ConvTranspose2d):
            raise TypeError(f"from_conv_transpose expects a torch.nn.ConvTranspose2d, got "
                            f"{type(conv).__name__}")
        if conv.groups != 1 or tuple(conv.dilation) != (1, 1) or conv.padding_mode != "zeros":
            raise ValueError("from_conv_transpose: only groups=1, dilation=1, zero padding "
                             f"transposed convolutions have a resize-conv twin, got {conv}")
        if conv.stride[0] != conv.stride[1]:
            raise ValueError(f"from_conv_transpose: the upsampling factor must be the same in "
                             f"both dimensions, got stride {conv.stride}")
        s = conv.stride[0]
        kernel, padding = [], []
        for k, p, op in zip(conv.kernel_size, conv.padding, conv.output_padding):
            growth = k + op - s - 2 * p  # 2p' - k' + 1 must equal this
            kk = k if k % 2 == 1 else k - 1
            if (growth + kk - 1) % 2 != 0:
                kk += 1
            while growth + kk - 1 < 0:
                kk += 2
            kernel.append(max(kk, 1))
            padding.append((growth + kernel[-1] - 1) // 2)
        weight = conv.weight
        return cls(conv.in_channels, conv.out_channels, tuple(kernel), scale_factor=s,
                   mode=mode, padding=tuple(padding), bias=conv.bias is not None,
                   device=weight.device, dtype=weight.dtype, backend=backend)
