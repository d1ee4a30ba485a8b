"""The one argument checker shared by every backend.

Every public op validates here, before any backend is chosen, so the same bad input gives
the same error whichever backend would have run. Messages name the op and the argument and
show shapes the way ``torch.nn.functional.conv2d`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

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


def _plain_ints(v) -> bool:
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


_CONV2D_RESULTS: dict = {}


def check_conv2d(op: str, input, weight, bias, stride, padding, dilation, groups,
                 ) -> tuple[ConvGeometry, tuple[int, int]]:
    """Validate a conv2d call. Returns the geometry and the extra end-padding of 'same'.
    Remembers what it returned (see above)."""
    if (_plain_ints(stride) and _plain_ints(dilation) and type(groups) is int
            and (_plain_ints(padding) or type(padding) is str)
            and not torch.compiler.is_compiling()):
        try:
            key = (op, _tensor_key(input), _tensor_key(weight), _tensor_key(bias), stride,
                   padding, dilation, groups)
        except TypeError:
            key = None
        if key is not None:
            hit = _CONV2D_RESULTS.get(key)
            if hit is not None:
                return hit
            return _remember(_CONV2D_RESULTS, key, _check_conv2d(
                op, input, weight, bias, stride, padding, dilation, groups))
    return _check_conv2d(op, input, weight, bias, stride, padding, dilation, groups)


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


def check_residual(op: str, residual: Optional[torch.Tensor], input: torch.Tensor,
                   out_shape: Sequence[int]) -> None:
    if residual is None:
        return
    check_float_tensor(op, "residual", residual)
    check_same_device(op, "input", input, residual=residual)
    if residual.dtype != input.dtype:
        raise TypeError(f"convkernels.{op}: residual dtype ({residual.dtype}) must match input "
                        f"dtype ({input.dtype})")
    if tuple(residual.shape) != tuple(out_shape):
        raise ValueError(f"convkernels.{op}: residual must have the output's shape "
                         f"{list(out_shape)}, got {list(residual.shape)}")


def check_batch_norm(op: str, input: torch.Tensor, K: int, running_mean, running_var,
                     bn_weight, bn_bias, training: bool, eps: float, momentum) -> None:
    """BN vectors: right length, device and float dtype; running stats present in eval."""
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("bn_weight", bn_weight), ("bn_bias", bn_bias)):
        check_vector(op, name, t, K)
        check_same_device(op, "input", input, **{name: t})
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"convkernels.{op}: running_mean and running_var must both be given "
                         f"or both be None")
    if not training and running_mean is None:
        raise ValueError(f"convkernels.{op}: running_mean and running_var are required when "
                         f"training=False")
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"convkernels.{op}: eps must be a non-negative number, got {eps!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        # BatchNorm2d(momentum=None) means a cumulative average; the module turns that into
        # a per-step factor (1 / num_batches_tracked) exactly as torch's _BatchNorm does.
        raise TypeError(f"convkernels.{op}: momentum must be a number, got {momentum!r}")


# ==== pooling and local response normalization (op family: pool, lrn) =========================

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


def _pool_input(op: str, input, empty_channels: bool = False) -> None:
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


def _positive_pair(op: str, name: str, value) -> tuple[int, int]:
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
    _pool_input(op, input)
    kernel = _positive_pair(op, "kernel_size", kernel_size)
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        stride_ = kernel
    else:
        stride_ = _positive_pair(op, "stride", stride)
    dilation_ = _positive_pair(op, "dilation", dilation)
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
    _pool_input(op, input, empty_channels)
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


def check_lrn(op: str, input, size, alpha, beta, k) -> None:
    """torch's local_response_norm takes 3-D and larger inputs; the kernels take 4-D."""
    check_float_tensor(op, "input", input)
    if input.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected a 4-D input [N, C, H, W] (ops take 3-D "
                         f"[N, C, L] too), got {input.dim()}-D input of shape "
                         f"{list(input.shape)}")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"convkernels.{op}: size must be a positive int, got {size!r}")
    for name, v in (("alpha", alpha), ("beta", beta), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"convkernels.{op}: {name} must be a number, got {v!r}")


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
    kernel = _positive_pair(op, "kernel_size", kernel_size)
    stride_ = kernel if stride is None else _positive_pair(op, "stride", stride)
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

# ---- grouped / depthwise -------------------------------------------------------------------

def check_depthwise_weight(op: str, input, weight) -> None:
    """weight [multiplier * C, 1, kH, kW] for a 4-D input [N, C, H, W]."""
    check_float_tensor(op, "input", input, ndim=4)
    check_float_tensor(op, "weight", weight, ndim=4)
    C, K = input.shape[1], weight.shape[0]
    if weight.shape[1] != 1 or C == 0 or K % C != 0 or K == 0:
        raise ValueError(f"convkernels.{op}: depthwise weight must have shape "
                         f"[multiplier * C, 1, kH, kW] with C={C} input channels, got "
                         f"{list(weight.shape)}")


def check_pointwise_weight(op: str, weight, input, in_channels: int) -> None:
    """weight [K, in_channels, 1, 1] of the 1x1 stage of a separable convolution."""
    check_float_tensor(op, "pointwise_weight", weight, ndim=4)
    if weight.dtype != input.dtype:
        raise TypeError(f"convkernels.{op}: pointwise_weight dtype ({weight.dtype}) must match "
                        f"input dtype ({input.dtype})")
    if weight.shape[1] != in_channels or weight.shape[2:] != (1, 1):
        raise ValueError(f"convkernels.{op}: pointwise_weight must have shape "
                         f"[out_channels, {in_channels}, 1, 1], got {list(weight.shape)}")

# ---- resize_conv: conv2d(interpolate(x, scale_factor, mode), w) --------------------------------

RESIZE_MODES = ("nearest", "bilinear")


@dataclass(frozen=True)
class ResizeConvGeometry:
    """A validated resize-convolution: upsample by ``scale_factor``, then a dense conv."""

    conv: ConvGeometry  # the convolution on the upsampled image (H, W are the high-res sizes)
    scale_factor: int
    mode: str
    align_corners: bool

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return self.conv.output_shape


def check_resize_conv2d(op: str, input, weight, bias, scale_factor, mode, padding, stride,
                        align_corners) -> ResizeConvGeometry:
    """Validate a resize-conv call: the conv checks on the upsampled shape, plus the resize's."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"convkernels.{op}: mode must be one of {RESIZE_MODES}, got {mode!r}")
    if isinstance(scale_factor, float) and scale_factor.is_integer():
        scale_factor = int(scale_factor)
    if isinstance(scale_factor, bool) or not isinstance(scale_factor, int) or scale_factor < 1:
        raise ValueError(f"convkernels.{op}: scale_factor must be an integer >= 1, got "
                         f"{scale_factor!r}")
    if not isinstance(align_corners, bool):
        raise TypeError(f"convkernels.{op}: align_corners must be a bool, got {align_corners!r}")
    if align_corners and mode == "nearest":
        raise ValueError(f"convkernels.{op}: align_corners option can only be set with the "
                         f"bilinear mode (as in F.interpolate)")
    if isinstance(padding, str):
        raise ValueError(f"convkernels.{op}: padding must be an int or a pair of ints, got "
                         f"{padding!r}")
    check_float_tensor(op, "input", input)
    check_float_tensor(op, "weight", weight)
    if input.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected 4-D input [N, C, H, W], got "
                         f"{input.dim()}-D input of shape {list(input.shape)}")
    # The conv checks see the upsampled shape; a meta tensor costs nothing.
    N, C, H, W = input.shape
    up = torch.empty((N, C, H * scale_factor, W * scale_factor), dtype=input.dtype,
                     device="meta")
    check_same_device(op, "input", input, weight=weight, bias=bias)
    if H <= 0 or W <= 0:
        raise ValueError(f"convkernels.{op}: input spatial size must be non-zero, got input of "
                         f"shape {list(input.shape)}")
    meta = lambda t: None if t is None else t.to("meta")  # noqa: E731
    conv, _ = check_conv2d(op, up, meta(weight), meta(bias), stride, padding, 1, 1)
    return ResizeConvGeometry(conv, scale_factor, mode, align_corners)

# ---- local_conv (locally connected / unshared-weight convolution) --------------------------

def check_local_conv2d(op: str, input, weight, bias, stride, padding, dilation) -> ConvGeometry:
    """Validate a locally connected conv: ``weight`` is ``[P, Q, K, C, kH, kW]`` (one filter
    bank per output position), ``bias`` is ``[K, P, Q]`` or None."""
    check_float_tensor(op, "input", input)
    check_float_tensor(op, "weight", weight)
    if weight.dim() != 6:
        raise ValueError(f"convkernels.{op}: expected weight to be 6-D [out_h, out_w, "
                         f"out_channels, in_channels, kH, kW], got {weight.dim()}-D weight of "
                         f"shape {list(weight.shape)}")
    if input.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected 4-D input [N, C, H, W], got "
                         f"{input.dim()}-D input of shape {list(input.shape)}")
    check_same_device(op, "input", input, weight=weight, bias=bias)
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        raise TypeError(f"convkernels.{op}: input, weight and bias must have one dtype, got "
                        f"{input.dtype}, {weight.dtype}"
                        f"{'' if bias is None else ', ' + str(bias.dtype)}")
    Pw, Qw, K, Cw, R, S = weight.shape
    if isinstance(padding, str):
        raise ValueError(f"convkernels.{op}: padding must be an int or a pair (the output size "
                         f"is fixed by the weight), got {padding!r}")
    if Pw <= 0 or Qw <= 0:
        raise ValueError(f"convkernels.{op}: weight must have a positive output size, got "
                         f"{list(weight.shape)}")
    # one position's filter bank [K, C, kH, kW] has conv2d's geometry
    geom, _ = check_conv2d(op, input, weight[0, 0], None, stride, padding, dilation, 1)
    if (geom.P, geom.Q) != (Pw, Qw):
        raise ValueError(f"convkernels.{op}: weight {list(weight.shape)} is for a {Pw} x {Qw} "
                         f"output, but input {list(input.shape)} with stride {geom.stride}, "
                         f"padding {geom.padding}, dilation {geom.dilation} gives "
                         f"{geom.P} x {geom.Q}")
    if bias is not None:
        check_float_tensor(op, "bias", bias)
        if tuple(bias.shape) != (K, Pw, Qw):
            raise ValueError(f"convkernels.{op}: bias must have shape [{K}, {Pw}, {Qw}] (one "
                             f"value per output channel and position), got {list(bias.shape)}")
    return geom

