"""The argument checks shared by several families; each family's own checks live in
``convkernels/ops/<family>_checks.py`` and build on these.

Every public op validates before any backend is chosen, so the same bad input gives the same
error whichever backend would have run; an op that is one torch function on the torch
backend runs these checks there only when torch raises (see :mod:`convkernels.ops`).
Messages name the op and the argument and show shapes the way ``torch.nn.functional.conv2d``
does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import torch

IntOr2 = Union[int, Sequence[int]]
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def pair(op: str, name: str, value: IntOr2) -> tuple[int, int]:
    """Normalize an int or a length-2 sequence of ints (like torch's _pair), validating type."""
    if isinstance(value, bool):
        raise TypeError(f"convkernels.{op}: {name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, (int, torch.SymInt)):
        return (value, value)
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"convkernels.{op}: {name} must be an int or a pair of ints, "
                        f"got {type(value).__name__}") from None
    if len(items) == 1:
        items = items * 2
    if len(items) != 2 or not all(isinstance(v, (int, torch.SymInt)) and not isinstance(v, bool)
                                  for v in items):
        raise TypeError(f"convkernels.{op}: {name} must be an int or a pair of ints, got {value!r}")
    return (items[0], items[1])


def check_float_tensor(op: str, name: str, t: torch.Tensor, ndim: Optional[int] = None) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"convkernels.{op}: {name} must be a Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"convkernels.{op}: {name} must be a floating-point tensor "
                        f"(float32, float16, bfloat16 or float64), got {t.dtype}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"convkernels.{op}: expected {name} to be {ndim}-D, got {t.dim()}-D "
                         f"tensor of shape {list(t.shape)}")


def check_same_device(op: str, ref_name: str, ref: torch.Tensor, **others: Optional[torch.Tensor]):
    for name, t in others.items():
        if t is not None and t.device != ref.device:
            raise RuntimeError(f"convkernels.{op}: expected all tensors on one device, but "
                               f"{ref_name} is on {ref.device} and {name} is on {t.device}")


def check_vector(op: str, name: str, t: Optional[torch.Tensor], length: int) -> None:
    """A per-channel vector (bias, BN statistics or affine parameters) of the given length."""
    if t is None:
        return
    check_float_tensor(op, name, t)
    if t.dim() != 1 or t.shape[0] != length:
        raise ValueError(f"convkernels.{op}: {name} must have shape [{length}] (one value per "
                         f"output channel), got {list(t.shape)}")


@dataclass(frozen=True)
class ConvGeometry:
    """Sizes of one 2-D convolution, validated. Names follow the implicit-GEMM literature."""

    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    P: int
    Q: int

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.K, self.P, self.Q)

    @property
    def flops(self) -> int:
        """Multiply-adds counted as two FLOPs, as cuDNN and the roofline literature do."""
        return 2 * self.N * self.K * self.P * self.Q * (self.C // self.groups) * self.R * self.S


def resolve_padding(op: str, padding, kernel: tuple[int, int], dilation: tuple[int, int],
                    stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return ((pad_h, pad_w), (extra_bottom, extra_right)).

    'same' with an even effective kernel needs one more row/column of zeros at the end, as
    torch does; the extra is returned so the caller can F.pad it once and keep the kernels
    symmetric.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"convkernels.{op}: padding must be an int, a pair, 'valid' or "
                             f"'same', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"convkernels.{op}: padding='same' is not supported for strided "
                             f"convolutions (stride={stride}), as in torch")
        pads, extra = [], []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append(total // 2)
            extra.append(total - 2 * (total // 2))
        return (pads[0], pads[1]), (extra[0], extra[1])
    pad = pair(op, "padding", padding)
    if pad[0] < 0 or pad[1] < 0:
        raise ValueError(f"convkernels.{op}: padding must be non-negative, got {pad}")
    return pad, (0, 0)


# ---- remembered results ---------------------------------------------------------------------
# A check's outcome depends only on the tensors' metadata (shape, dtype, device) and the plain
# arguments, and a network makes the same calls on every forward. So the checks the hot path
# runs remember the result of every call that passed, keyed on exactly those things, and a
# repeated call costs the key and one dict lookup. Only plain tensors and exact ints, int pairs
# and strings make a key: a bool or float standing in for an int, a list, a tensor subclass
# (FakeTensor, FunctionalTensor: tracing, symbolic shapes) or a call under torch.compile take
# the full check, as does every call that raises.

_REMEMBERED_LIMIT = 512
_PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


def plain_ints(v) -> bool:
    """An exact int or a pair of exact ints (no bool, no float, no SymInt)."""
    t = type(v)
    return t is int or (t is tuple and len(v) == 2 and type(v[0]) is int
                        and type(v[1]) is int)


def _tensor_key(t):
    if t is None:
        return None
    if type(t) not in _PLAIN_TENSORS:
        raise TypeError  # not a plain tensor: no key
    return (t.shape, t.dtype, t.device)


def _remember(table: dict, key, result):
    if len(table) >= _REMEMBERED_LIMIT:
        table.clear()
    table[key] = result
    return result


_PLAIN_FLAG_TYPES = frozenset((bool, int, float, str, type(None)))


def call_key(op: str, tensors: tuple, geometry: tuple, flags: tuple):
    """The key under which the checks of one call may be remembered, or None when they must
    run in full. ``tensors`` may hold None; ``geometry`` holds exact ints, int pairs or
    strings (stride, padding, dilation, groups); ``flags`` the other checked arguments (eps,
    training, algo), each a bool, int, float, str or None. The flags' types are part of the
    key, so ``True`` never hits the entry of ``1`` or ``1.0``, which it compares equal to."""
    for v in geometry:
        if not (plain_ints(v) or type(v) is str):
            return None
    types = tuple([type(v) for v in flags])
    if not _PLAIN_FLAG_TYPES.issuperset(types) or torch.compiler.is_compiling():
        return None
    try:
        return (op, tuple([_tensor_key(t) for t in tensors]), geometry, flags, types)
    except TypeError:
        return None


def remembered(table: dict, key, check: Callable[[], object]):
    """``check()``'s result for ``key``, computed once (None key: every time)."""
    if key is None:
        return check()
    hit = table.get(key)
    if hit is None:
        hit = _remember(table, key, check())
    return hit


_CONV2D_RESULTS: dict = {}


def check_conv2d(op: str, input, weight, bias, stride, padding, dilation, groups,
                 ) -> tuple[ConvGeometry, tuple[int, int]]:
    """Validate a conv2d call. Returns the geometry and the extra end-padding of 'same'.
    Remembers what it returned (see above)."""
    return remembered(
        _CONV2D_RESULTS,
        call_key(op, (input, weight, bias), (stride, padding, dilation, groups), ()),
        lambda: _check_conv2d(op, input, weight, bias, stride, padding, dilation, groups))


def _check_conv2d(op: str, input, weight, bias, stride, padding, dilation, groups,
                  ) -> tuple[ConvGeometry, tuple[int, int]]:
    check_float_tensor(op, "input", input)
    check_float_tensor(op, "weight", weight)
    if weight.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected weight to be 4-D [out_channels, "
                         f"in_channels/groups, kH, kW], got {weight.dim()}-D weight of shape "
                         f"{list(weight.shape)}")
    if input.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected 4-D input [N, C, H, W] for 4-D weight "
                         f"{list(weight.shape)}, but got {input.dim()}-D input of shape "
                         f"{list(input.shape)}")
    check_same_device(op, "input", input, weight=weight, bias=bias)
    if input.dtype != weight.dtype:
        raise TypeError(f"convkernels.{op}: input dtype ({input.dtype}) and weight dtype "
                        f"({weight.dtype}) must be the same")
    if bias is not None and bias.dtype != input.dtype:
        raise TypeError(f"convkernels.{op}: bias dtype ({bias.dtype}) must match input dtype "
                        f"({input.dtype})")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
        raise ValueError(f"convkernels.{op}: groups must be a positive int, got {groups!r}")
    stride_ = pair(op, "stride", stride)
    dilation_ = pair(op, "dilation", dilation)
    if min(stride_) <= 0:
        raise ValueError(f"convkernels.{op}: stride must be positive, got {stride_}")
    if min(dilation_) <= 0:
        raise ValueError(f"convkernels.{op}: dilation must be positive, got {dilation_}")
    N, C, H, W = input.shape
    K, Cg, R, S = weight.shape
    if K == 0:
        raise ValueError(f"convkernels.{op}: expected weight to have at least one output "
                         f"channel, got weight of shape {list(weight.shape)}")
    if R <= 0 or S <= 0:
        raise ValueError(f"convkernels.{op}: kernel size must be positive, got weight of shape "
                         f"{list(weight.shape)}")
    if C % groups != 0:
        raise ValueError(f"convkernels.{op}: input channels ({C}) must be divisible by groups "
                         f"({groups})")
    if K % groups != 0:
        raise ValueError(f"convkernels.{op}: out_channels ({K}) of weight {list(weight.shape)} "
                         f"must be divisible by groups ({groups})")
    if Cg * groups != C:
        raise ValueError(f"convkernels.{op}: given groups={groups}, weight of size "
                         f"{list(weight.shape)}, expected input{list(input.shape)} to have "
                         f"{Cg * groups} channels, but got {C} channels instead")
    check_vector(op, "bias", bias, K)
    pad, extra = resolve_padding(op, padding, (R, S), dilation_, stride_)
    if H <= 0 or W <= 0:
        raise ValueError(f"convkernels.{op}: input spatial size must be non-zero, got input of "
                         f"shape {list(input.shape)}")
    eff = (dilation_[0] * (R - 1) + 1, dilation_[1] * (S - 1) + 1)
    Hp, Wp = H + 2 * pad[0] + extra[0], W + 2 * pad[1] + extra[1]
    if Hp < eff[0] or Wp < eff[1]:
        raise ValueError(f"convkernels.{op}: output size is too small: padded input "
                         f"({Hp} x {Wp}) is smaller than the effective kernel size "
                         f"({eff[0]} x {eff[1]})")
    P = (Hp - eff[0]) // stride_[0] + 1
    Q = (Wp - eff[1]) // stride_[1] + 1
    geom = ConvGeometry(N, C, H + extra[0], W + extra[1], K, R, S, stride_, pad, dilation_,
                        groups, P, Q)
    return geom, extra


# ---- pooling windows (shared by the pool and lrn families) ---------------------------------

@dataclass(frozen=True)
class PoolGeometry:
    """One 2-D pooling window configuration, validated; sizes per axis (h, w)."""

    N: int
    C: int
    H: int
    W: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    ceil_mode: bool
    OH: int
    OW: int

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.OH, self.OW)


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int,
                     ceil_mode: bool) -> int:
    """torch's pooling_output_shape: with ceil_mode, a last window that would start in the
    right padding (past the input and the left padding) is dropped."""
    numer = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = numer // stride + 1  # Python floor division: numer may be negative
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def check_pool_input(op: str, input, empty_channels: bool = False) -> None:
    """``empty_channels``: C == 0 is allowed (adaptive_avg_pool2d returns an empty result in
    torch; the other pools raise)."""
    check_float_tensor(op, "input", input)
    if input.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected a 4-D input [N, C, H, W] (ops take 3-D "
                         f"[C, H, W] too), got {input.dim()}-D input of shape "
                         f"{list(input.shape)}")
    if (input.shape[1] == 0 and not empty_channels) or input.shape[2] == 0 \
            or input.shape[3] == 0:
        raise ValueError(f"convkernels.{op}: expected non-zero channel and spatial sizes (only "
                         f"the batch may be empty), got input of shape {list(input.shape)}")


def positive_pair(op: str, name: str, value) -> tuple[int, int]:
    p = pair(op, name, value)
    if p[0] <= 0 or p[1] <= 0:
        raise ValueError(f"convkernels.{op}: {name} must be positive, got {p}")
    return p


def check_pool2d(op: str, input, kernel_size, stride, padding, dilation, ceil_mode: bool,
                 *, avg: bool) -> PoolGeometry:
    """Validate max_pool2d / avg_pool2d arguments as torch does (pool2d_shape_check).

    ``stride=None`` (or ``[]``) means ``stride = kernel_size``. Padding may be at most half
    the kernel; the output must be at least 1x1. ``avg`` only names the op family.
    """
    check_pool_input(op, input)
    kernel = positive_pair(op, "kernel_size", kernel_size)
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        stride_ = kernel
    else:
        stride_ = positive_pair(op, "stride", stride)
    dilation_ = positive_pair(op, "dilation", dilation)
    pad = pair(op, "padding", padding)
    if pad[0] < 0 or pad[1] < 0:
        raise ValueError(f"convkernels.{op}: padding must be non-negative, got {pad}")
    # torch compares with the kernel size itself, not the dilated extent, for max and avg.
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"convkernels.{op}: padding {pad} should be at most half of the "
                         f"kernel size {kernel}")
    N, C, H, W = input.shape
    OH = pool_output_size(H, kernel[0], stride_[0], pad[0], dilation_[0], bool(ceil_mode))
    OW = pool_output_size(W, kernel[1], stride_[1], pad[1], dilation_[1], bool(ceil_mode))
    if OH < 1 or OW < 1:
        raise ValueError(f"convkernels.{op}: given input size ({C}x{H}x{W}), the calculated "
                         f"output size ({C}x{OH}x{OW}) is too small")
    return PoolGeometry(N, C, H, W, kernel, stride_, pad, dilation_, bool(ceil_mode), OH, OW)
