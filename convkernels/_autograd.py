"""What the families' backward formulas share.

Each family's formulas live in ``convkernels/ops/<family>_primitives.py`` and serve both the
``cuda_*`` and the ``triton_*`` twin of a primitive (``ctx.backend`` says which one ran).
Where a family has no backward kernels of its own, its formula uses aten ops
(``aten.convolution_backward`` is cuDNN on a GPU), as its public docstrings say.
"""

from __future__ import annotations

import torch

#: The dims a per-channel reduction sums over in an [N, C, H, W] tensor.
CHANNEL_DIMS = (0, 2, 3)


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for float64 tensors, float32 otherwise (the epilogues' precision)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def relu_masked(grad: torch.Tensor, out, relu: bool) -> torch.Tensor:
    """The gradient through an optional ReLU, given the (saved) ReLU output."""
    return torch.where(out > 0, grad, torch.zeros_like(grad)) if relu else grad
