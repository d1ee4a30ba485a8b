"""In-place fusion modules for :func:`convkernels.convert`: the fused chain keeps every
parameter under its original name, so a converted model's ``state_dict`` loads back into
the original class.

``FusedConv2d`` replaces the conv of a Conv2d -> BatchNorm2d [-> +residual] [-> ReLU] chain and
computes the whole chain in one fused op; the BatchNorm2d stays registered where it was, as a
``FoldedBatchNorm2d`` whose own forward is the identity (its arithmetic happens in the conv's
epilogue, or, in training, in the fused op's batch-statistics path). Which module runs the
math is the only difference: parameter and buffer names, shapes and values are the torch
modules'.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .conv_bn_relu import fused_forward, refuse_scripting


class FoldedBatchNorm2d(torch.nn.BatchNorm2d):
    """A ``BatchNorm2d`` whose computation was fused into the conv before it.

    Keeps its parameters and buffers (``weight``, ``bias``, ``running_mean``,
    ``running_var``, ``num_batches_tracked``) under the same names; the conv named in
    ``folded_into`` reads and updates them. Its forward passes the input through unchanged:
    it is called only where a ``Sequential`` still lists it after the fused conv.
    """

    folded_into: str

    @classmethod
    def from_bn(cls, bn: torch.nn.BatchNorm2d, folded_into: str) -> "FoldedBatchNorm2d":
        """Share ``bn``'s parameters and buffers (no copy)."""
        new = cls.__new__(cls)
        new.__dict__.update(bn.__dict__)
        new._parameters = bn._parameters   # the same dicts: .to()/.half() stay shared
        new._buffers = bn._buffers
        new.folded_into = folded_into
        return new

    def forward(self, input: Tensor) -> Tensor:
        return input

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, folded into {self.folded_into!r}"


class FusedConv2d(torch.nn.Conv2d):
    """A ``torch.nn.Conv2d`` that also applies the BatchNorm (and ReLU) that followed it.

    ``forward(x, residual=None)`` returns ``relu(bn(conv(x)) + residual)`` through
    :func:`convkernels.ops.fused_conv_bn_relu` (train: batch statistics, running stats
    updated like torch; eval: BN folded into the epilogue, fold cached). ``bn`` is held as a
    plain attribute, not a child module, so its parameters appear once in ``state_dict``,
    under the BatchNorm's own name.
    """

    @classmethod
    def from_modules(cls, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d, *, relu: bool,
                     backend: Optional[str] = None, bn_name: str = "") -> "FusedConv2d":
        if bn.num_features != conv.out_channels:
            raise ValueError(f"FusedConv2d: BatchNorm2d has {bn.num_features} features but "
                             f"the conv has {conv.out_channels} output channels")
        new = cls.__new__(cls)
        new.__dict__.update(conv.__dict__)
        new._parameters = conv._parameters
        new._buffers = conv._buffers
        object.__setattr__(new, "bn", bn)   # not registered: it stays where it was
        new.relu, new.backend, new.bn_name = relu, backend, bn_name
        new._fold_key = new._fold = None
        return new

    def forward(self, input: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        return fused_forward(self, self, self.bn, self.relu, self.backend, input, residual)

    __prepare_scriptable__ = refuse_scripting

    def extra_repr(self) -> str:
        s = f"{super().extra_repr()}, bn={self.bn_name!r}, relu={self.relu}"
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        return s
