"""The output memory-format rule (convkernels._layout) against torch's own rule.

``output_memory_format`` has a fast path for NCHW-contiguous inputs ahead of the stride walk;
both must agree with torch's ``suggest_memory_format`` on every stride pattern, size-1 and
size-0 dims and broadcast (stride-0) dims included.
"""

import itertools
import random

import pytest
import torch
from torch._prims_common import suggest_memory_format

from convkernels._layout import output_memory_format, strides_like_channels_last

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
