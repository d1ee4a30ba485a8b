"""The local_conv family's argument checks (locally connected / unshared-weight
convolution)."""

from __future__ import annotations

from .._checks import ConvGeometry, check_conv2d, check_float_tensor, check_same_device


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
