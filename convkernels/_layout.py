"""Memory-format rule shared by every backend and the fake kernels.

The output of an op follows its input exactly as torch's ``suggest_memory_format`` decides:
channels_last when the input's strides order the dims C, W, H, N from fastest to slowest
(size-1 dims included, so a channels_last tensor with C=1 stays channels_last even though
it is also plain-contiguous, and an NCHW one with C=1 stays NCHW); otherwise contiguous
NCHW. Keeping this in one place is what makes fake-kernel strides equal the real output's
strides.
"""

from __future__ import annotations

import torch


def strides_like_channels_last(x: torch.Tensor) -> bool:
    """c10's ``is_channels_last_strides_2d_s4``: the stride order, with its tie-breaks."""
    sizes, strides = x.shape, x.stride()
    if strides[1] == 0:
        return False
    lowest = 0
    for d in (1, 3, 2, 0):
        if sizes[d] == 0 or strides[d] < lowest:
            return False
        if d == 0 and lowest == strides[1]:
            return False   # N111 with equal strides: ambiguous, NCHW by default
        lowest = strides[d] * (sizes[d] if sizes[d] > 1 else 1)
    return True


def output_memory_format(x: torch.Tensor) -> torch.memory_format:
    # The common case first, decided by one C++ flag: an NCHW-contiguous tensor with C > 1 and
    # H * W > 1 never has channels_last-like strides (its C stride exceeds its W or H stride
    # of 1), so it is contiguous_format without the stride walk.
    if x.is_contiguous() and x.dim() == 4 and x.shape[1] > 1 and x.shape[2] * x.shape[3] > 1:
        return torch.contiguous_format
    if x.dim() == 4 and strides_like_channels_last(x):
        return torch.channels_last
    return torch.contiguous_format


def follow_layout(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y`` in the memory format ``output_memory_format(x)`` gives: ``y`` itself when it
    already is. The common case (both NCHW-contiguous, ``x`` with C > 1 and H * W > 1) is
    decided without a call of that function or of ``Tensor.contiguous``: on the host path of
    a tiny op every call made beside the aten kernels costs several times its own time."""
    if y.is_contiguous() and x.is_contiguous():
        shape = x.shape
        if len(shape) == 4 and shape[1] > 1 and shape[2] * shape[3] > 1:
            return y
    return y.contiguous(memory_format=output_memory_format(x))


def empty_like_layout(x: torch.Tensor, shape, dtype=None) -> torch.Tensor:
    """An uninitialized tensor of ``shape`` in the memory format ``x`` implies."""
    return torch.empty(shape, dtype=dtype or x.dtype, device=x.device,
                       memory_format=output_memory_format(x))
