"""The output memory-format rule (convkernels._layout) against torch's own rule.

``output_memory_format`` has a fast path for NCHW-contiguous inputs ahead of the stride walk;
both must agree with torch's ``suggest_memory_format`` on every stride pattern, size-1 and
size-0 dims and broadcast (stride-0) dims included. ``follow_layout`` skips both for two
NCHW-contiguous tensors: it must give the strides of ``y.contiguous(memory_format=...)``.
"""

import itertools
import random

import pytest
import torch
from torch._prims_common import suggest_memory_format

from convkernels._layout import follow_layout, output_memory_format, strides_like_channels_last

SIZES = (0, 1, 2, 3)


def _layouts(shape):
    """The same sizes under NCHW, channels_last, every dim order, and random strides."""
    base = torch.empty(shape)
    yield base
    yield base.contiguous(memory_format=torch.channels_last)
    for order in itertools.permutations(range(4)):
        yield torch.empty([shape[d] for d in order]).permute(
            [order.index(d) for d in range(4)])
    rng = random.Random(hash(shape))
    for _ in range(6):
        strides = [rng.choice((0, 1, 2, 3, 5, 8, 24)) for _ in range(4)]
        extent = 1 + sum((n - 1) * st for n, st in zip(shape, strides)) if all(shape) else 0
        yield torch.empty(extent).as_strided(shape, strides)


@pytest.mark.parametrize("shape", list(itertools.product(SIZES, repeat=4)),
                         ids=lambda s: "x".join(map(str, s)))
def test_output_memory_format_matches_torch(shape):
    for x in _layouts(shape):
        expected = suggest_memory_format(x)
        assert output_memory_format(x) == expected, (shape, x.stride())
        assert strides_like_channels_last(x) == (expected == torch.channels_last), \
            (shape, x.stride())


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_non_4d_is_contiguous_format(dim):
    x = torch.empty([2] * dim)
    assert output_memory_format(x) == torch.contiguous_format


@pytest.mark.parametrize("shape", list(itertools.product(SIZES, repeat=4)),
                         ids=lambda s: "x".join(map(str, s)))
def test_follow_layout_equals_contiguous_in_output_format(shape):
    layouts = list(_layouts(shape))
    # y: an op's output (another shape than x, NCHW or channels_last), or x's own layouts.
    unambiguous = torch.empty(2, 3, 2, 2)
    outputs = [unambiguous, unambiguous.contiguous(memory_format=torch.channels_last),
               *layouts[:2], *layouts[-2:]]
    for x in layouts:
        fmt = suggest_memory_format(x)
        for y in outputs:
            out = follow_layout(y, x)
            expected = y.contiguous(memory_format=fmt)
            assert out.stride() == expected.stride(), (shape, x.stride(), y.stride())
            assert (out.data_ptr() == y.data_ptr()) == (expected.data_ptr() == y.data_ptr())


def test_follow_layout_keeps_non_4d_contiguous():
    y = torch.empty(2, 3)
    assert follow_layout(y, torch.empty(2, 3)) is y
    assert follow_layout(y.t(), torch.empty(3, 2)).is_contiguous()
