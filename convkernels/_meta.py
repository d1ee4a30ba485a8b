"""What the families' fake (meta) kernels share: output shapes, dtypes and strides without
running anything.

Each family's fake kernels live in ``convkernels/ops/<family>_primitives.py``; they are used by
torch.compile, FakeTensor tracing and ``torch.library.opcheck``.
"""

from __future__ import annotations

from ._layout import empty_like_layout

__all__ = ["conv_output_size", "empty_like_layout"]


def conv_output_size(size, pad, dilation, kernel, stride):
    """One output dimension of a convolution (symbolic sizes welcome)."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
