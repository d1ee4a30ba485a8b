"""``ConvBNReLU2d``: Conv2d -> BatchNorm2d -> ReLU as one module on one fused operator."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ..backends import runs_on_torch
from ..distributed import sync_fused_conv_bn_relu, sync_group
from ..reference.conv import affine_epilogue, epilogue_dtype
from ._value_cache import cached_derivative, still_current, tensor_state
from .conv import padded_input


def refuse_scripting(module: torch.nn.Module):
    """``__prepare_scriptable__`` of the fused modules: TorchScript cannot compile their
    Python-level backend dispatch, so say so instead of a parser error deep inside."""
    raise TypeError(f"torch.jit.script cannot compile convkernels' {type(module).__name__} (its "
                    "forward dispatches to a backend in Python); use torch.export, "
                    "torch.compile or torch.jit.trace")


#: The BatchNorm modules a fused layer computes: a SyncBatchNorm after a Conv2d sees 4-D
#: input, where it is BatchNorm2d with cross-process statistics.
BATCH_NORMS = (torch.nn.BatchNorm2d, torch.nn.SyncBatchNorm)


class ConvBNReLU2d(torch.nn.Module):
    """``relu(bn(conv(x)) [+ residual])`` on :func:`convkernels.ops.fused_conv_bn_relu`.

    Holds a ``torch.nn.Conv2d`` as ``.conv`` and a ``torch.nn.BatchNorm2d`` as ``.bn``, so
    their parameters and buffers keep the names (``conv.weight``, ``bn.running_mean``, ...)
    and ``m.conv`` / ``m.bn`` load into, and from, the torch modules they replace. Train and
    eval behave like the torch modules: batch statistics and running-stat updates in train
    (``momentum=None`` is the cumulative average), running statistics in eval.

    In eval, the BN fold (per-channel scale and shift applied on the conv accumulator) is
    cached and recomputed whenever any parameter or buffer it depends on changes
    (training steps, ``load_state_dict``, in-place edits, ``.to()``/``.half()``), in the
    input's precision (float32 at least, float64 for float64 inputs). We fold into the
    epilogue rather than into the weights so the weights are never re-rounded and a weight
    update needs no refold. ``torch.jit.script`` raises (use torch.export, torch.compile or
    torch.jit.trace); pickling and ``copy.deepcopy`` keep the behaviour.

    ``sync_batch_norm=True`` makes ``.bn`` a ``torch.nn.SyncBatchNorm`` over
    ``process_group`` (None: the whole world, as SyncBatchNorm's default): in training, with
    more than one process, the batch statistics are those of every process's batch (see
    :mod:`convkernels.distributed`). ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` on a
    model holding this module does the same.

    Constructor: Conv2d's arguments, then BatchNorm2d's (``eps``, ``momentum``, ``affine``,
    ``track_running_stats``), then ``relu=True`` and ``backend=None``; keyword-only
    ``sync_batch_norm=False`` and ``process_group=None``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, relu: bool = True,
                 backend: Optional[str] = None, device=None, dtype=None, *,
                 sync_batch_norm: bool = False, process_group=None):
        super().__init__()
        if process_group is not None and not sync_batch_norm:
            raise ValueError("ConvBNReLU2d: process_group is the group of a synchronized "
                             "BatchNorm; pass sync_batch_norm=True with it")
        factory = {"device": device, "dtype": dtype}
        self.conv = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                    dilation, groups, bias, padding_mode, **factory)
        if sync_batch_norm:
            self.bn = torch.nn.SyncBatchNorm(out_channels, eps, momentum, affine,
                                             track_running_stats, process_group, **factory)
        else:
            self.bn = torch.nn.BatchNorm2d(out_channels, eps, momentum, affine,
                                           track_running_stats, **factory)
        self.relu = relu
        self.backend = backend
        self._fold_key = None
        self._fold = None

    @classmethod
    def from_modules(cls, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d,
                     relu: Optional[torch.nn.Module] = None, *,
                     backend: Optional[str] = None) -> "ConvBNReLU2d":
        """Wrap existing modules (shared, not copied). ``bn``: a BatchNorm2d or a
        SyncBatchNorm; ``relu``: a ReLU module, or None."""
        if not isinstance(conv, torch.nn.Conv2d) or not isinstance(bn, BATCH_NORMS):
            raise TypeError("ConvBNReLU2d.from_modules expects (nn.Conv2d, nn.BatchNorm2d or "
                            f"nn.SyncBatchNorm), got ({type(conv).__name__}, "
                            f"{type(bn).__name__})")
        if bn.num_features != conv.out_channels:
            raise ValueError(f"ConvBNReLU2d.from_modules: BatchNorm2d has {bn.num_features} "
                             f"features but the conv has {conv.out_channels} output channels")
        if relu is not None and not (isinstance(relu, torch.nn.ReLU) or relu is True):
            raise TypeError(f"ConvBNReLU2d.from_modules: relu must be nn.ReLU or None, got "
                            f"{type(relu).__name__}")
        new = cls.__new__(cls)
        torch.nn.Module.__init__(new)
        new.conv, new.bn = conv, bn
        new.relu = relu is not None
        new.backend = backend
        new._fold_key = new._fold = None
        new.train(conv.training)
        return new

    def forward(self, input: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        return fused_forward(self, self.conv, self.bn, self.relu, self.backend, input, residual)

    __prepare_scriptable__ = refuse_scripting

    def extra_repr(self) -> str:
        s = f"relu={self.relu}"
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        return s


# ---- the fused forward, shared with convert()'s in-place FusedConv2d ---------------------------


def _momentum(training: bool, bn: torch.nn.BatchNorm2d) -> float:
    """torch's _BatchNorm.forward logic for the averaging factor (and the step count)."""
    factor = 0.0 if bn.momentum is None else bn.momentum
    if training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return factor


def _cached_fold(owner: torch.nn.Module, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d,
                 x: Tensor):
    """Folded (scale, shift) for eval, kept on ``owner`` and reused while nothing it depends
    on changed.

    Why the key is what it is: ``F.batch_norm`` updates the running statistics in place
    without bumping their version counters, so versions alone miss a training step. Every
    training forward of torch's BatchNorm bumps ``num_batches_tracked`` (in the key), and
    our own training forward drops the cache (:func:`fused_forward`). The rest (in-place
    edits, ``load_state_dict``, ``.to()``, ``.half()``) is what :mod:`._value_cache`
    recognizes."""
    # Read straight from the modules' dicts: Module.__getattr__ costs more than the check.
    conv_params, bn_params, bn_buffers = conv._parameters, bn._parameters, bn._buffers
    deps = (conv_params.get("bias"), bn_buffers.get("running_mean"),
            bn_buffers.get("running_var"), bn_params.get("weight"), bn_params.get("bias"))
    if (torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting()
            or (torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                                for t in deps))):
        return None  # differentiable or traced: fold inline, don't cache
    dtype = epilogue_dtype(x.dtype)
    tracked = deps + (bn_buffers.get("num_batches_tracked"),)
    old = owner._fold_key
    if (old is None or old[0] != dtype or old[1] != bn.eps or old[2] != x.device
            or not all(map(still_current, old[3], tracked))):
        owner._fold = ops.fold_batch_norm(conv.bias, bn.running_mean, bn.running_var,
                                          bn.weight, bn.bias, bn.eps, dtype=dtype)
        owner._fold_key = (dtype, bn.eps, x.device, tuple(map(tensor_state, tracked)))
    return owner._fold


def _folded_conv(owner: torch.nn.Module, conv: torch.nn.Conv2d, fold):
    """The conv's weight and bias with the eval fold applied (``w * scale[k]``, ``shift``),
    computed in the fold's precision and rounded once to the weight's dtype, kept on ``owner``
    while the weight and the fold stay the same; None where autograd needs the weight itself."""
    weight = conv._parameters.get("weight")

    def fold_into_weight():
        scale, shift = fold
        return ((weight.to(scale.dtype) * scale.view(-1, 1, 1, 1)).to(weight.dtype),
                shift.to(weight.dtype))
    return cached_derivative(owner, "_folded_conv", weight, fold_into_weight, also=fold)


def fused_forward(owner: torch.nn.Module, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d,
                  relu: bool, backend: Optional[str], input: Tensor,
                  residual: Optional[Tensor]) -> Tensor:
    """``relu(bn(conv(input)) [+ residual])`` with torch's train/eval semantics, on the fused
    op. Train vs eval is the BatchNorm's own flag, as in the unfused chain (code that puts
    only the BN layers in eval, to freeze their statistics, keeps working); ``owner`` (the
    module calling) holds the eval fold cache."""
    x, padding = padded_input(conv, input)
    training = bn.training or bn.running_mean is None
    if not training:
        fold = _cached_fold(owner, conv, bn, x)
        if fold is not None:
            if runs_on_torch(backend, x):
                folded = _folded_conv(owner, conv, fold)
                if folded is not None:
                    # torch (cuDNN) with the BatchNorm folded into the conv's weight and bias:
                    # one convolution, no separate scale and shift passes.
                    y = F.conv2d(x, folded[0], folded[1], conv.stride, padding, conv.dilation,
                                 conv.groups)
                    if residual is not None and residual.shape == y.shape:
                        y = y.add_(residual)
                    elif residual is not None:   # only broadcasts: the op refuses it
                        return ops.conv2d_affine(x, conv.weight, fold[0], fold[1], conv.stride,
                                                 padding, conv.dilation, conv.groups,
                                                 relu=relu, residual=residual, backend=backend)
                    return y.relu_() if relu else y
                # conv2d_affine's torch backend, less the argument checks that F.conv2d makes
                # itself; a residual that only broadcasts goes on to the op, which refuses it.
                y = F.conv2d(x, conv.weight, None, conv.stride, padding, conv.dilation,
                             conv.groups)
                if residual is None or residual.shape == y.shape:
                    return affine_epilogue(y, x, fold[0], fold[1], residual, relu)
            return ops.conv2d_affine(x, conv.weight, fold[0], fold[1], conv.stride, padding,
                                     conv.dilation, conv.groups, relu=relu, residual=residual,
                                     backend=backend)
    owner._fold_key = owner._fold = None   # a training forward may change the running stats
    momentum = _momentum(bn.training, bn)
    track = not bn.training or bn.track_running_stats
    group = sync_group(bn)
    if group is not None:
        return sync_fused_conv_bn_relu(
            x, conv.weight, conv.bias, bn.running_mean if track else None,
            bn.running_var if track else None, bn.weight, bn.bias, conv.stride, padding,
            conv.dilation, conv.groups, group=group, eps=bn.eps, momentum=momentum,
            relu=relu, residual=residual, backend=backend)
    return ops.fused_conv_bn_relu(
        x, conv.weight, conv.bias, bn.running_mean if track else None,
        bn.running_var if track else None, bn.weight, bn.bias, conv.stride, padding,
        conv.dilation, conv.groups, eps=bn.eps, momentum=momentum, training=training,
        relu=relu, residual=residual, backend=backend)
