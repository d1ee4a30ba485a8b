"""Reference pooling and unpooling: the ``torch`` backend.

Each is the ``torch.nn.functional`` call it mirrors (aten on CPU, cuDNN/aten on CUDA); the
spatial pyramid is the composition it replaces.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .._layout import follow_layout


def max_pool2d(input: torch.Tensor, kernel: Sequence[int], stride: Sequence[int],
               padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool,
               return_indices: bool):
    return F.max_pool2d(input, list(kernel), list(stride), list(padding), list(dilation),
                        ceil_mode=ceil_mode, return_indices=return_indices)


def avg_pool2d(input, kernel, stride, padding, ceil_mode, count_include_pad,
               divisor_override: Optional[int]):
    return F.avg_pool2d(input, list(kernel), list(stride), list(padding), ceil_mode,
                        count_include_pad, divisor_override)


def adaptive_avg_pool2d(input, output_size):
    return F.adaptive_avg_pool2d(input, list(output_size))


def adaptive_max_pool2d(input, output_size, return_indices: bool):
    return F.adaptive_max_pool2d(input, list(output_size), return_indices=return_indices)


def max_unpool2d(input, indices, output_size):
    """Scatter ``input`` into a zero [N, C, *output_size] plane at ``indices`` (h*OW + w)."""
    N, C, H, W = input.shape
    out = input.new_zeros((N, C, output_size[0] * output_size[1]))
    out.scatter_(2, indices.reshape(N, C, H * W), input.reshape(N, C, H * W))
    out = out.view(N, C, output_size[0], output_size[1])
    return follow_layout(out, input)


def spatial_pyramid_pool(input, levels: Sequence[int], mode: str):
    """Concatenate adaptive pools to n x n bins for each level: [N, C * sum(n^2)]."""
    pool = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
    return torch.cat([pool(input, n).flatten(1) for n in levels], dim=1)
