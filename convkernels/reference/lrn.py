"""Reference local response normalization and its fusion with max-pooling: the ``torch``
backend.

``local_response_norm`` is ``torch.nn.functional.local_response_norm``; the fused LRN +
max-pool is the composition it replaces.
"""

from __future__ import annotations

import torch.nn.functional as F

from .pool import max_pool2d


def local_response_norm(input, size: int, alpha: float, beta: float, k: float):
    return F.local_response_norm(input, size, alpha, beta, k)


def lrn_max_pool2d(input, size, alpha, beta, k, kernel, stride, padding, dilation, ceil_mode,
                   pool_first: bool):
    """LRN then max-pool (AlexNet conv1/conv2), or max-pool then LRN (GoogLeNet's pool1)."""
    if pool_first:
        pooled, idx = max_pool2d(input, kernel, stride, padding, dilation, ceil_mode, True)
        return local_response_norm(pooled, size, alpha, beta, k), idx
    return max_pool2d(local_response_norm(input, size, alpha, beta, k), kernel, stride,
                      padding, dilation, ceil_mode, True)
