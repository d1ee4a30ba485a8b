"""Pure-PyTorch implementations: the ``torch`` backend and the ground truth in tests.

One module per op family; they follow the contract of docs/architecture.md exactly,
including where the arithmetic happens (epilogue math in float32, or the input's dtype when
that is wider; one rounding to the output dtype; output in the input's memory format).
"""

from __future__ import annotations

# Families whose references are used as reference.<family>.<function>:
from . import lrn, pool, resize_conv, winograd  # noqa: F401
from .conv import channel_moments, conv2d_fused, conv_bn_relu, epilogue_dtype, scale_shift_relu  # noqa: F401
from .depthwise import separable_conv2d
from .local_conv import local_conv2d

__all__ = ["conv2d_fused", "channel_moments", "scale_shift_relu", "conv_bn_relu",
           "epilogue_dtype"]
__all__ += ["separable_conv2d", "local_conv2d"]
