"""The pool family's argument checks (the pooling window itself is
:func:`convkernels._checks.check_pool2d`, shared with the lrn family)."""

from __future__ import annotations

import torch

from .._checks import check_float_tensor, check_pool_input, check_same_device, pair, positive_pair


def check_divisor_override(op: str, divisor_override) -> int:
    """0 stands for None in the primitives; torch takes any non-zero int (a negative one
    flips the sign) and rejects 0."""
    if divisor_override is None:
        return 0
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, int) \
            or divisor_override == 0:
        raise ValueError(f"convkernels.{op}: divisor_override must be a non-zero int or None, "
                         f"got {divisor_override!r}")
    return divisor_override


def check_adaptive_output_size(op: str, input, output_size, empty_channels: bool = False,
                               ) -> tuple[int, int]:
    """An int, a pair, or a pair with None entries (keep that input size), as torch takes."""
    check_pool_input(op, input, empty_channels)
    if isinstance(output_size, (list, tuple)):
        items = list(output_size)
        if len(items) == 1:
            items = items * 2
        if len(items) != 2:
            raise TypeError(f"convkernels.{op}: output_size must be an int or a pair, got "
                            f"{output_size!r}")
        items = [input.shape[2 + i] if v is None else v for i, v in enumerate(items)]
    else:
        items = [output_size, output_size]
    size = pair(op, "output_size", items)
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"convkernels.{op}: output_size must be positive, got {size}")
    return size


def check_unpool(op: str, input, indices, kernel_size, stride, padding, output_size
                 ) -> tuple[int, int]:
    """max_unpool2d: indices like the input; the output size from the pool's arguments or
    ``output_size`` (torch's _unpool_output_size rules). Returns (OH, OW)."""
    check_float_tensor(op, "input", input, 4)
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64:
        raise TypeError(f"convkernels.{op}: indices must be an int64 tensor (as max_pool2d "
                        f"returns them), got "
                        f"{indices.dtype if isinstance(indices, torch.Tensor) else type(indices)}")
    check_same_device(op, "input", input, indices=indices)
    if indices.shape != input.shape:
        raise ValueError(f"convkernels.{op}: indices must have the input's shape "
                         f"{list(input.shape)}, got {list(indices.shape)}")
    kernel = positive_pair(op, "kernel_size", kernel_size)
    stride_ = kernel if stride is None else positive_pair(op, "stride", stride)
    pad = pair(op, "padding", padding)
    if pad[0] < 0 or pad[1] < 0:
        raise ValueError(f"convkernels.{op}: padding must be non-negative, got {pad}")
    H, W = input.shape[2], input.shape[3]
    default = ((H - 1) * stride_[0] + kernel[0] - 2 * pad[0],
               (W - 1) * stride_[1] + kernel[1] - 2 * pad[1])
    if output_size is None:
        size = default
    else:
        size = tuple(output_size)
        if len(size) == 4:
            size = size[2:]
        if len(size) != 2:
            raise ValueError(f"convkernels.{op}: output_size must have 2 (or 4) elements, got "
                             f"{list(output_size)}")
        for d in range(2):
            lo = default[d] - stride_[d]
            hi = default[d] + stride_[d]
            if not lo < size[d] < hi:
                raise ValueError(f"convkernels.{op}: invalid output_size {list(size)} (dim {d} "
                                 f"must be between {lo} and {hi})")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"convkernels.{op}: output size {list(size)} is too small")
    return (int(size[0]), int(size[1]))
