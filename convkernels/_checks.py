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


def check_conv2d(op: str, input, weight, bias, stride, padding, dilation, groups,
                 ) -> tuple[ConvGeometry, tuple[int, int]]:
    """Validate a conv2d call. Returns the geometry and the extra end-padding of 'same'."""
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

