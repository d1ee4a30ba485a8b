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


class _Folded:
    """What both folded BatchNorm classes add to torch's: the shared parameters and buffers,
    the identity forward and the name of the conv that computes them."""

    folded_into: str

    @classmethod
    def from_bn(cls, bn: torch.nn.Module, folded_into: str):
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


class FoldedBatchNorm2d(_Folded, torch.nn.BatchNorm2d):
    """A ``BatchNorm2d`` whose computation was fused into the conv before it.

    Keeps its parameters and buffers (``weight``, ``bias``, ``running_mean``,
    ``running_var``, ``num_batches_tracked``) under the same names; the conv named in
    ``folded_into`` reads and updates them. Its forward passes the input through unchanged:
    it is called only where a ``Sequential`` still lists it after the fused conv.
    """


class FoldedSyncBatchNorm(_Folded, torch.nn.SyncBatchNorm):
    """A ``SyncBatchNorm`` whose computation was fused into the conv before it: as
    :class:`FoldedBatchNorm2d`, and the conv reduces the batch statistics over its
    ``process_group`` (see :mod:`convkernels.distributed`)."""


#: The folded twin of each BatchNorm class a fused conv computes (exact types: a subclass
#: may compute something else).
FOLDED = {torch.nn.BatchNorm2d: FoldedBatchNorm2d, torch.nn.SyncBatchNorm: FoldedSyncBatchNorm}


def folded_twin(bn: torch.nn.Module, folded_into: str) -> _Folded:
    """The folded twin of ``bn`` (a BatchNorm2d or SyncBatchNorm, or a subclass with
    torch's forward), sharing its parameters and buffers."""
    cls = FoldedSyncBatchNorm if isinstance(bn, torch.nn.SyncBatchNorm) else FoldedBatchNorm2d
    return cls.from_bn(bn, folded_into)


class FusedConv2d(torch.nn.Conv2d):
    """A ``torch.nn.Conv2d`` that also applies the BatchNorm (and ReLU) that followed it.

    ``forward(x, residual=None)`` returns ``relu(bn(conv(x)) + residual)`` through
    :func:`convkernels.ops.fused_conv_bn_relu` (train: batch statistics, running stats
    updated like torch; eval: BN folded into the epilogue, fold cached). ``bn`` is held as a
    plain attribute, not a child module, so its parameters appear once in ``state_dict``,
    under the BatchNorm's own name.

    ``bn_slot`` (parent module, attribute name) is where the BatchNorm stays registered.
    Code that replaces the module there after the fusion, as
    ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` does, would otherwise leave this conv
    computing the old BatchNorm and the new one running a second time: the next forward
    (or :meth:`rebind_batch_norm`, which ``convkernels.convert`` calls) adopts a plain
    ``BatchNorm2d`` or ``SyncBatchNorm`` found there, folding it in place so that it runs
    once, here, and raises for anything else. Adopting changes a module's class, which
    ``torch.compile`` cannot trace: under compile, let it happen before (convert again, or
    run one eager step).
    """

    @classmethod
    def from_modules(cls, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d, *, relu: bool,
                     backend: Optional[str] = None, bn_name: str = "",
                     bn_slot: Optional[tuple[torch.nn.Module, str]] = None) -> "FusedConv2d":
        if bn.num_features != conv.out_channels:
            raise ValueError(f"FusedConv2d: BatchNorm2d has {bn.num_features} features but "
                             f"the conv has {conv.out_channels} output channels")
        new = cls.__new__(cls)
        new.__dict__.update(conv.__dict__)
        new._parameters = conv._parameters
        new._buffers = conv._buffers
        object.__setattr__(new, "bn", bn)   # not registered: it stays where it was
        new.relu, new.backend, new.bn_name, new._bn_slot = relu, backend, bn_name, bn_slot
        new._fold_key = new._fold = None
        return new

    def forward(self, input: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        bn, slot = self.bn, self._bn_slot
        if slot is not None and slot[0]._modules.get(slot[1]) is not bn:
            bn = self.rebind_batch_norm()
        return fused_forward(self, self, bn, self.relu, self.backend, input, residual)

    def rebind_batch_norm(self) -> torch.nn.Module:
        """The BatchNorm this conv computes: the one registered in its slot, adopted (folded
        in place) if it was replaced since the fusion; raises if it cannot be."""
        if self._bn_slot is None:
            return self.bn
        parent, name = self._bn_slot
        current = parent._modules.get(name)
        if current is self.bn:
            return current
        folded = FOLDED.get(type(current))
        if folded is None or current.num_features != self.out_channels:
            raise RuntimeError(
                f"convkernels: {self.bn_name!r} was replaced by {type(current).__name__} "
                f"after convert() fused its BatchNorm into the conv at {self.bn.folded_into!r}"
                "; that conv cannot compute the new module. Replace layers before convert(), "
                "or convert the original model again")
        current.__class__ = folded   # same object: references to it and its hooks stay valid
        current.folded_into = self.bn.folded_into
        object.__setattr__(self, "bn", current)
        self._fold_key = self._fold = None
        return current

    __prepare_scriptable__ = refuse_scripting

    def extra_repr(self) -> str:
        s = f"{super().extra_repr()}, bn={self.bn_name!r}, relu={self.relu}"
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        return s
