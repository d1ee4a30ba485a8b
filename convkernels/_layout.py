"""Memory-format rule shared by every backend and the fake kernels.

The output of an op follows its input: channels_last when the input is channels_last
and not also plain-contiguous (the ambiguous C=1 or H=W=1 cases resolve to NCHW, as torch's
``suggest_memory_format`` does for them); otherwise contiguous NCHW. Keeping this in one
place is what makes fake-kernel strides equal the real output's strides.
"""

from __future__ import annotations

import torch


def output_memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def empty_like_layout(x: torch.Tensor, shape, dtype=None) -> torch.Tensor:
    """An uninitialized tensor of ``shape`` in the memory format ``x`` implies."""
    return torch.empty(shape, dtype=dtype or x.dtype, device=x.device,
                       memory_format=output_memory_format(x))
