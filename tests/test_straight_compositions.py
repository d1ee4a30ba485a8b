"""The fused ops' straight path on the torch backend refuses what their checks refuse.

On the torch backend ``conv2d_affine``, ``fused_conv_bn_relu``, both resize-conv ops,
``separable_conv2d`` and ``local_conv2d`` run their torch composition on the caller's own
arguments, before any check (the host cost of the call is then the composition's). torch
refuses most bad arguments itself; the rest, which the composition would take (broadcast a
per-channel vector or a residual, promote a dtype, upsample in another mode), the straight
path's guards send to the checked path, whose error names the argument. Every case here is
one such input: the eager composition takes it, the op must refuse it, on "torch" and on
"auto" alike.
"""

import pytest
import torch

from convkernels import ops


def _x(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(dtype)


X, W = _x(2, 4, 6, 6), _x(6, 4, 3, 3)
ONES, ZEROS = torch.ones(6), torch.zeros(6)
BN = dict(running_mean=ZEROS, running_var=ONES, bn_weight=ONES, bn_bias=ZEROS)


def affine(**over):
    a = dict(input=X, weight=W, scale=ONES, shift=ZEROS, padding=1) | over
    return lambda backend: ops.conv2d_affine(**a, backend=backend)


def fused(**over):
    a = dict(input=X, weight=W, bias=None, **BN, padding=1) | over
    return lambda backend: ops.fused_conv_bn_relu(**a, backend=backend)


def resize(**over):
    a = dict(input=X, weight=W, bias=ZEROS, scale_factor=2) | over
    return lambda backend: ops.resize_conv2d(**a, backend=backend)


def resize_affine(**over):
    a = dict(input=X, weight=W, scale=ONES, shift=ZEROS, scale_factor=2) | over
    return lambda backend: ops.resize_conv2d_affine(**a, backend=backend)


def separable(**over):
    a = dict(input=X, depthwise_weight=_x(4, 1, 3, 3), pointwise_weight=_x(6, 4, 1, 1),
             padding=1) | over
    return lambda backend: ops.separable_conv2d(**a, backend=backend)


def local(**over):
    a = dict(input=X, weight=_x(4, 4, 6, 4, 3, 3)) | over
    return lambda backend: ops.local_conv2d(**a, backend=backend)


CASES = {
    # conv2d_affine: the epilogue's view(1, -1, 1, 1) broadcasts, promotes, reshapes
    "affine-scale-length-1": (affine(scale=torch.ones(1)), "scale must have shape"),
    "affine-scale-2d": (affine(scale=torch.ones(2, 3)), "scale must have shape"),
    "affine-shift-int": (affine(shift=torch.zeros(6, dtype=torch.long)), "floating-point"),
    "affine-unbatched": (affine(input=X[0]), "4-D input"),
    "affine-int-input": (affine(input=X.long(), weight=W.long()), "floating-point"),
    "affine-no-channels": (affine(input=_x(2, 0, 6, 6), weight=_x(1, 0, 3, 3),
                                  scale=torch.ones(1), shift=torch.zeros(1)), "one channel"),
    "affine-residual-broadcast": (affine(residual=_x(6, 1, 1)), "residual must have"),
    "affine-residual-dtype": (affine(residual=_x(2, 6, 6, 6, dtype=torch.float64)),
                              "residual dtype"),
    "affine-meta-weight": (affine(weight=W.to("meta")), "device"),
    # fused_conv_bn_relu: batch_norm takes a 2-D affine vector, a bool momentum
    "fused-bn-weight-2d": (fused(bn_weight=torch.ones(2, 3)), "bn_weight must have shape"),
    "fused-momentum-bool": (fused(momentum=True), "momentum must be a number"),
    "fused-residual-broadcast": (fused(residual=_x(6, 1, 1)), "residual must have"),
    "fused-unbatched": (fused(input=X[0]), "4-D input"),
    "fused-meta-bias": (fused(bias=ZEROS.to("meta")), "device"),
    "fused-one-stat-training": (fused(running_var=None, training=True), "both be given"),
    # resize-conv: F.interpolate takes other modes and scales
    "resize-mode": (resize(mode="bicubic"), "mode must be one of"),
    "resize-scale-fraction": (resize(scale_factor=1.5), "scale_factor must be an integer"),
    "resize-align-corners-int": (resize(mode="bilinear", align_corners=1),
                                 "align_corners must be a bool"),
    "resize-align-corners-nearest": (resize(align_corners=True),
                                     "only be set with the bilinear"),
    "resize-padding-same": (resize(padding="same", stride=1), "padding must be an int"),
    "resize-unbatched": (resize(input=X[0]), "4-D input"),
    "resize-meta-weight": (resize(weight=W.to("meta")), "device"),
    "resize-affine-scale-length-1": (resize_affine(scale=torch.ones(1)),
                                     "scale must have shape"),
    "resize-affine-shift-2d": (resize_affine(shift=torch.zeros(2, 3)), "shift must have shape"),
    # separable_conv2d: its biases are folded into broadcasting epilogues
    "separable-pointwise-3x3": (separable(pointwise_weight=_x(6, 4, 3, 3)),
                                "pointwise_weight must have shape"),
    "separable-mid-scale-length-1": (separable(mid_scale=torch.ones(1)),
                                     "mid_scale must have shape"),
    "separable-bias-length-1": (separable(pointwise_bias=torch.ones(1)),
                                "pointwise_bias must have shape"),
    "separable-bias-dtype": (separable(depthwise_bias=torch.ones(4, dtype=torch.float64)),
                             "bias dtype"),
    "separable-meta-pointwise": (separable(pointwise_weight=_x(6, 4, 1, 1).to("meta")),
                                 "device"),
    "separable-empty-depthwise": (separable(depthwise_weight=_x(0, 1, 3, 3),
                                            pointwise_weight=_x(6, 0, 1, 1)),
                                  "depthwise weight must have shape"),
    # local_conv2d: the reference casts to its accumulator and broadcasts the bias
    "local-int-input": (local(input=X.long()), "floating-point"),
    "local-weight-dtype": (local(weight=_x(4, 4, 6, 4, 3, 3, dtype=torch.float64)), "one dtype"),
    "local-bias-broadcast": (local(bias=torch.zeros(4)), r"bias must have shape \[6, 4, 4\]"),
    "local-dilation-bool": (local(dilation=(1, True)), "dilation must be"),
    "local-meta-weight": (local(weight=_x(4, 4, 6, 4, 3, 3).to("meta")), "device"),
}


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("case", CASES)
def test_what_the_composition_takes_the_op_refuses(case, backend):
    call, message = CASES[case]
    with pytest.raises((ValueError, TypeError, RuntimeError),
                       match=rf"convkernels\.\w+: .*{message}"):
        call(backend)


GOOD = {
    "affine": affine(relu=True),
    "affine-residual-half": affine(input=X.half(), weight=W.half(),
                                   residual=_x(2, 6, 6, 6).half()),
    "fused": fused(bias=ONES),
    "fused-channels-last": fused(input=X.contiguous(memory_format=torch.channels_last)),
    "fused-training": fused(training=True, running_mean=ZEROS.clone(),
                            running_var=ONES.clone()),
    "resize": resize(),
    "resize-bilinear": resize(mode="bilinear", align_corners=True),
    "resize-affine": resize_affine(relu=True),
    "resize-affine-shift-only": resize_affine(scale=None),
    "separable": separable(),
    "separable-epilogues": separable(depthwise_bias=torch.ones(4), mid_scale=torch.ones(4),
                                     mid_relu=True, pointwise_bias=ONES, shift=ZEROS,
                                     relu=True),
    "separable-channels-last-half": separable(
        input=X.half().contiguous(memory_format=torch.channels_last),
        depthwise_weight=_x(4, 1, 3, 3).half(), pointwise_weight=_x(6, 4, 1, 1).half()),
    "local": local(bias=torch.ones(6, 4, 4)),
    "local-channels-last": local(input=X.contiguous(memory_format=torch.channels_last)),
}


@pytest.mark.parametrize("case", GOOD)
def test_straight_path_equals_the_checked_path(case, monkeypatch):
    """The straight composition gives the torch implementation's values and strides: with
    straight_to_torch off, the same call goes through the checks and the backend choice."""
    straight = GOOD[case]("torch")
    for module in ("conv", "resize_conv", "depthwise", "local_conv"):
        monkeypatch.setattr(f"convkernels.ops.{module}.straight_to_torch", lambda *a: False)
    checked = GOOD[case]("torch")
    assert straight.dtype == checked.dtype and straight.stride() == checked.stride()
    torch.testing.assert_close(straight, checked, rtol=0, atol=0)


@pytest.mark.parametrize("case", ["affine", "fused", "resize-affine", "separable-epilogues",
                                  "local"])
def test_straight_path_compiles_in_one_graph(case):
    """The guards and the composition trace with torch.compile(fullgraph=True): no graph
    break, the eager values."""
    torch._dynamo.reset()
    eager = GOOD[case]("torch")
    compiled = torch.compile(GOOD[case], fullgraph=True, backend="aot_eager")("torch")
    torch.testing.assert_close(compiled, eager)
