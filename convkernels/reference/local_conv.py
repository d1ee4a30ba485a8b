"""Locally connected (unshared-weight) 2-D convolution, in PyTorch: the ``torch`` backend of
:func:`convkernels.ops.local_conv2d` and the ground truth of its tests.

``out[n, k, p, q] = bias[k, p, q] + sum_{c, r, s} weight[p, q, k, c, r, s] *
x_pad[n, c, p*sh + r*dh, q*sw + s*dw]`` — every output position has its own filter bank.
As im2col: ``cols = unfold(x)`` is ``[N, C*R*S, P*Q]`` and each position ``l`` is a small GEMM
``out[:, :, l] = cols[:, :, l] @ weight[l].T``. Accumulation in float32 for half inputs (float64
for float64), one rounding to the output dtype; output in the input's memory format.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .._layout import follow_layout


def local_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor], stride, padding,
                 dilation) -> Tensor:
    N, C, H, W = input.shape
    P, Q, K = weight.shape[:3]
    acc = torch.float64 if input.dtype == torch.float64 else torch.float32
    cols = F.unfold(input.to(acc), weight.shape[4:], dilation=dilation, padding=padding,
                    stride=stride)                                        # [N, C*R*S, P*Q]
    w = weight.to(acc).reshape(P * Q, K, -1)                              # [P*Q, K, C*R*S]
    out = torch.einsum("ncl,lkc->nkl", cols, w).reshape(N, K, P, Q)
    if bias is not None:
        out = out + bias.to(acc)
    return follow_layout(out.to(input.dtype), input)
