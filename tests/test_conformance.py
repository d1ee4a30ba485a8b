"""Conformance with PyTorch: "equal to torch.nn.functional.X" means equal in values and
indices, dtype, shape, strides (memory format), and in whether an error is raised.

* PyTorch's own OpInfo ``sample_inputs`` and ``error_inputs`` (``op_db``) for every op that
  mirrors a ``torch.nn.functional`` op: every sample on the torch backend (float32 and
  float64), a representative subset on Triton under the interpreter (float32).
* ``torch.library.opcheck`` with all of its tests (schema, autograd registration, fake
  tensors, AOT dispatch with dynamic shapes) on the Triton custom ops, with inputs that need
  gradients so the backward formulas are traced too.
* hypothesis property tests over shapes, strides, dtypes and hyper-parameters for conv, pool,
  LRN and resize-conv; the shrunk counterexample is in the failure message.
* the channels_last C=1 case, whose strides torch resolves by its stride order.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convkernels import _library, ops
from convkernels._layout import output_memory_format
from convkernels.reference import resize_conv as resize_ref
from harness import assert_within_rule, backend_params, requires_triton


def _import_op_db():
    """PyTorch's test utilities change process-wide state when imported: they freeze the
    torch.backends flags (this suite's fixtures set cudnn.allow_tf32) and load their own
    hypothesis profile. Import them, then put both back for the other test modules."""
    profile = settings._current_profile
    from torch.testing._internal.common_methods_invocations import op_db
    # torch.backends is a module proxy: the flag lives in the functions' own globals.
    torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True
    settings.load_profile(profile)
    return op_db


op_db = _import_op_db()
BACKENDS = backend_params()

# OpInfo name -> our op with torch.nn.functional's signature (plus backend=).
MIRRORS = {
    "nn.functional.conv2d": ops.conv2d,
    "nn.functional.max_pool2d": ops.max_pool2d,
    "nn.functional.avg_pool2d": ops.avg_pool2d,
    "nn.functional.adaptive_avg_pool2d": ops.adaptive_avg_pool2d,
    "nn.functional.adaptive_max_pool2d": ops.adaptive_max_pool2d,
    "nn.functional.max_unpool2d": ops.max_unpool2d,
    "nn.functional.local_response_norm": ops.local_response_norm,
}
OPINFOS = [o for o in op_db if o.name in MIRRORS]
assert {o.name for o in OPINFOS} == set(MIRRORS), "an OpInfo this suite relies on is gone"

# Under the interpreter each kernel launch costs milliseconds per program: Triton gets an
# evenly spread subset of every op's samples (all of them on the torch backend).
TRITON_SAMPLES_PER_OP = 12
FLOAT64_SAMPLES_PER_OP = 48


def _opinfo_id(o) -> str:
    return o.name.replace("nn.functional.", "") + (f".{o.variant_test_name}"
                                                   if o.variant_test_name else "")


def _spread(items: list, n: int) -> list:
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def _describe(sample) -> str:
    def fmt(v):
        if isinstance(v, torch.Tensor):
            return f"Tensor{list(v.shape)}@{v.stride()}/{v.dtype}"
        if isinstance(v, (list, tuple)):
            return type(v)(fmt(x) for x in v)
        return v
    return (f"input={fmt(sample.input)}, args={fmt(tuple(sample.args))}, "
            f"kwargs={ {k: fmt(v) for k, v in sample.kwargs.items()} }")


def _to64(v):
    if isinstance(v, torch.Tensor) and v.is_floating_point():
        return v.detach().double()
    if isinstance(v, (list, tuple)) and any(isinstance(x, torch.Tensor) for x in v):
        return type(v)(_to64(x) for x in v)
    return v


def _flat(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _run(fn, *args, **kwargs):
    """(result, None) or (None, exception)."""
    try:
        return fn(*args, **kwargs), None
    except Exception as e:   # whether an error is raised is part of the contract
        return None, e


def assert_same_raising(what: str, expected_error, our_error) -> None:
    assert (expected_error is None) == (our_error is None), (
        f"{what}: torch {'raised ' + repr(expected_error) if expected_error else 'ran'}, ours "
        f"{'raised ' + repr(our_error) if our_error else 'ran'}")


def assert_same_strides(ours: torch.Tensor, expected: torch.Tensor, label: str) -> None:
    """Exact strides, except for tensors without elements: they address no memory and torch
    itself returns arbitrary strides for some of them (conv2d with N = 0: (1, 0, 0, 0))."""
    if expected.numel() == 0:
        return
    assert ours.stride() == expected.stride(), (
        f"{label}: strides {ours.stride()} != torch's {expected.stride()}")


def assert_conforms(opinfo, sample, backend: str) -> None:
    """Our op against torch's on one OpInfo sample, in every respect of the contract."""
    what = f"{_opinfo_id(opinfo)} on {backend}: {_describe(sample)}"
    expected, expected_error = _run(opinfo.op, sample.input, *sample.args, **sample.kwargs)
    ours, our_error = _run(MIRRORS[opinfo.name], sample.input, *sample.args, **sample.kwargs,
                           backend=backend)
    assert_same_raising(what, expected_error, our_error)
    if expected_error is not None:
        return
    reference64 = None
    for i, (o, e) in enumerate(zip(_flat(ours), _flat(expected), strict=True)):
        label = f"{what} [output {i}]"
        assert o.shape == e.shape, f"{label}: shape {tuple(o.shape)} != {tuple(e.shape)}"
        assert o.dtype == e.dtype, f"{label}: dtype {o.dtype} != {e.dtype}"
        assert_same_strides(o, e, label)
        if not e.is_floating_point() or e.dtype == torch.float64:
            torch.testing.assert_close(o, e, equal_nan=True,
                                       msg=lambda m, label=label: f"{label}: {m}")
            continue
        if reference64 is None:
            reference64 = _flat(opinfo.op(_to64(sample.input), *_to64(sample.args),
                                          **{k: _to64(v) for k, v in sample.kwargs.items()}))
        assert_within_rule(o, e, reference64[i], what=label)


def _samples(opinfo, dtype):
    return list(opinfo.sample_inputs("cpu", dtype, requires_grad=False))


@pytest.mark.parametrize("opinfo", OPINFOS, ids=_opinfo_id)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_opinfo_samples_on_torch_backend(opinfo, dtype):
    samples = _samples(opinfo, dtype)
    if dtype == torch.float64:   # every sample in float32; float64 checks dtype propagation
        samples = _spread(samples, FLOAT64_SAMPLES_PER_OP)
    for sample in samples:
        assert_conforms(opinfo, sample, "torch")


@requires_triton()
@pytest.mark.triton
@pytest.mark.parametrize("opinfo", OPINFOS, ids=_opinfo_id)
def test_opinfo_samples_on_triton(opinfo):
    for sample in _spread(_samples(opinfo, torch.float32), TRITON_SAMPLES_PER_OP):
        assert_conforms(opinfo, sample, "triton")


@pytest.mark.parametrize("backend,device", BACKENDS)
@pytest.mark.parametrize("opinfo", [o for o in OPINFOS if o.error_inputs_func is not None],
                         ids=_opinfo_id)
def test_opinfo_error_inputs_raise(opinfo, backend, device):
    errors = list(opinfo.error_inputs(device))
    assert errors, "an op without error inputs would make this test vacuous"
    for error in errors:
        sample = error.sample_input
        with pytest.raises((RuntimeError, ValueError, TypeError, IndexError),
                           match=None) as info:
            MIRRORS[opinfo.name](sample.input, *sample.args, **sample.kwargs,
                                 backend=backend)
        assert info.value is not None, f"torch raises for {_describe(sample)}"


# ---- opcheck, all tests, with gradients -------------------------------------------------------

def _grad(*tensors):
    return [t.detach().clone().requires_grad_() for t in tensors]


def _opcheck_samples():
    """Triton ops whose backward formulas the other modules' opchecks do not trace with
    gradient-requiring inputs and dynamic shapes (conv2d_fused, channel_moments,
    scale_shift_relu, the pools and LRN are covered in test_registration/test_pool/test_lrn)."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(1, 2, 3, 4, generator=g), torch.randn(3, 2, 3, 3, generator=g)
    scale, shift = torch.rand(3, generator=g) + 0.5, torch.randn(3, generator=g)
    folded = resize_ref.fold_nearest_weight(w, 2, (1, 1), (1, 1))
    u = torch.ops.convkernels.triton_winograd_filter_transform(w, 2)
    xw = torch.randn(1, 2, 6, 5, generator=g)
    return {
        "resize_bilinear_conv2d_fused": (*_grad(x, w), None, _grad(scale)[0], 2, [1, 1],
                                         [1, 1], False, False),
        "resize_nearest_conv2d_fused": (*_grad(x, folded, scale, shift), 2, [1, 1], [1, 1],
                                        [3, 3], True),
        "winograd_filter_transform": (_grad(w)[0], 2),
        "winograd_conv2d_fused": (*_grad(xw, w), u, *_grad(scale, shift), None, [1, 1], 2,
                                  True),
    }


OPCHECK_PRIMITIVES = ("resize_bilinear_conv2d_fused", "resize_nearest_conv2d_fused",
                      "winograd_filter_transform", "winograd_conv2d_fused")


@requires_triton()
@pytest.mark.triton
@pytest.mark.parametrize("primitive", OPCHECK_PRIMITIVES)
def test_opcheck_all_tests_with_gradients(primitive):
    torch.library.opcheck(_library.op("triton", primitive), _opcheck_samples()[primitive])


@requires_triton()
@pytest.mark.triton
def test_compile_dynamic_backward_of_bilinear_resize_conv():
    torch._dynamo.reset()
    fn = torch.compile(lambda x, w: ops.resize_conv2d(x, w, None, 2, "bilinear",
                                                     backend="triton").square().sum(),
                       dynamic=True, fullgraph=True)
    for shape in [(1, 2, 3, 4), (2, 2, 4, 3)]:
        x, w = _grad(torch.randn(shape), torch.randn(3, 2, 3, 3))
        gx, gw = torch.autograd.grad(fn(x, w), (x, w))
        xr, wr = _grad(x, w)
        up = F.interpolate(xr, scale_factor=2, mode="bilinear")
        rx, rw = torch.autograd.grad(F.conv2d(up, wr, padding=1).square().sum(), (xr, wr))
        torch.testing.assert_close(gx, rx, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(gw, rw, rtol=1e-4, atol=1e-4)


# ---- channels_last with C = 1: torch resolves the ambiguity by the stride order ---------------

def _channels_last_cases(backend):
    g = torch.Generator().manual_seed(0)
    # .contiguous(memory_format=channels_last) keeps NCHW strides when C == 1 (already
    # "contiguous" in both formats); a permuted copy has the channels_last strides.
    x = torch.randn(2, 6, 5, 1, generator=g).permute(0, 3, 1, 2)
    assert x.stride() == (30, 1, 5, 1)
    w, dw = torch.randn(4, 1, 3, 3, generator=g), torch.randn(3, 1, 3, 3, generator=g)
    mean, var = torch.zeros(4), torch.ones(4)
    b = {"backend": backend}
    return {
        "conv2d": (lambda: ops.conv2d(x, w, padding=1, **b), lambda: F.conv2d(x, w, padding=1)),
        "depthwise": (lambda: ops.depthwise_conv2d(x, dw, padding=1, **b),
                      lambda: F.conv2d(x, dw, padding=1, groups=1)),
        "max_pool2d": (lambda: ops.max_pool2d(x, 2, return_indices=True, **b),
                       lambda: F.max_pool2d(x, 2, return_indices=True)),
        "avg_pool2d": (lambda: ops.avg_pool2d(x, 3, 1, 1, **b), lambda: F.avg_pool2d(x, 3, 1, 1)),
        "adaptive_avg_pool2d": (lambda: ops.adaptive_avg_pool2d(x, (2, 3), **b),
                                lambda: F.adaptive_avg_pool2d(x, (2, 3))),
        "adaptive_max_pool2d": (lambda: ops.adaptive_max_pool2d(x, (2, 3), **b),
                                lambda: F.adaptive_max_pool2d(x, (2, 3))),
        "resize_conv2d": (lambda: ops.resize_conv2d(x, w, **b),
                          lambda: F.conv2d(F.interpolate(x, scale_factor=2), w, padding=1)),
        "fused_training": (
            lambda: ops.fused_conv_bn_relu(x, w, None, mean.clone(), var.clone(), None, None,
                                           padding=1, training=True, **b),
            lambda: F.relu(F.batch_norm(F.conv2d(x, w, padding=1), mean.clone(), var.clone(),
                                        training=True))),
    }


@pytest.mark.parametrize("backend,device", BACKENDS)
@pytest.mark.parametrize("op", list(_channels_last_cases("torch")))
def test_channels_last_single_channel_strides_like_torch(op, backend, device):
    ours, expected = (_flat(f()) for f in _channels_last_cases(backend)[op])
    for o, e in zip(ours, expected, strict=True):
        assert o.stride() == e.stride(), f"{op}: strides {o.stride()} != torch's {e.stride()}"
        torch.testing.assert_close(o, e, rtol=1e-4, atol=1e-4)


# ---- property tests: hypothesis over shapes, strides, dtypes and hyper-parameters --------------

PROPERTY_BACKENDS = [pytest.param(*p.values, marks=p.marks, id=p.id) for p in BACKENDS]
LAYOUTS = ["contiguous", "channels_last", "transposed", "sliced"]


def _examples(backend: str) -> settings:
    """The interpreter runs every Triton program in Python: fewer, small examples there."""
    return settings(deadline=None, max_examples=10 if backend == "triton" else 40,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                    derandomize=True, database=None)


def _laid_out(x: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "transposed":   # H and W swapped in memory
        return x.transpose(2, 3).contiguous().transpose(2, 3)
    if layout == "sliced":       # every other column of a wider tensor
        return torch.stack([x, torch.full_like(x, float("nan"))], dim=-1).flatten(-2)[..., ::2]
    return x.contiguous()


def _tensor(data, shape, dtype, layout) -> torch.Tensor:
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return _laid_out(x.to(dtype), layout)


def assert_property(what: str, ours_fn, torch_fn, inputs: tuple, *, strides_of=None):
    """Raised-or-not, then shape/dtype/strides/values/indices against torch; ``what`` (the
    drawn example, shrunk by hypothesis on failure) leads every message.

    A dtype torch's CPU kernels do not implement (float16 avg_pool3d inside torch's LRN) is a
    missing reference, not a semantic difference: torch then runs in float32 and its result
    is rounded to the dtype. ``strides_of``: the expected strides, where an op's docstring
    states an intended difference from torch's."""
    expected, expected_error = _run(torch_fn, *inputs)
    if isinstance(expected_error, NotImplementedError):
        up = [t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t
              for t in inputs]
        expected = [t.to(inputs[0].dtype) if t.is_floating_point() else t
                    for t in _flat(torch_fn(*up))]
        expected_error = None
    ours, our_error = _run(ours_fn, *inputs)
    assert_same_raising(what, expected_error, our_error)
    if expected_error is not None:
        return
    reference = _flat(torch_fn(*[_to64(t) for t in inputs]))
    for i, (o, e) in enumerate(zip(_flat(ours), _flat(expected), strict=True)):
        label = f"{what} [output {i}]"
        assert (o.shape, o.dtype) == (e.shape, e.dtype), f"{label}: {o.shape}/{o.dtype} != " \
                                                         f"torch's {e.shape}/{e.dtype}"
        assert_same_strides(o, strides_of(e) if strides_of else e, label)
        if e.is_floating_point():
            assert_within_rule(o, e, reference[i], what=label)
        else:
            assert torch.equal(o, e), f"{label}: indices differ"


def _dtypes(backend):
    return st.sampled_from([torch.float32, torch.float16, torch.bfloat16] if backend == "triton"
                           else [torch.float32, torch.float64])


@pytest.mark.parametrize("backend,device", PROPERTY_BACKENDS)
def test_property_conv2d(backend, device):
    @_examples(backend)
    @given(data=st.data())
    def check(data):
        groups = data.draw(st.sampled_from([1, 2]), label="groups")
        c = groups * data.draw(st.integers(1, 3), label="C/groups")
        k = groups * data.draw(st.integers(1, 3), label="K/groups")
        n, h, w = (data.draw(st.integers(lo, 7), label=n) for lo, n in
                   ((0, "N"), (1, "H"), (1, "W")))
        r, s = data.draw(st.integers(1, 4), label="R"), data.draw(st.integers(1, 4), label="S")
        stride, padding, dilation = (data.draw(st.integers(lo, hi), label=n) for lo, hi, n in
                                     ((1, 3, "stride"), (0, 2, "padding"), (1, 2, "dilation")))
        dtype = data.draw(_dtypes(backend), label="dtype")
        layout = data.draw(st.sampled_from(LAYOUTS), label="layout")
        with_bias = data.draw(st.booleans(), label="bias")
        x = _tensor(data, (n, c, h, w), dtype, layout)
        wt = _tensor(data, (k, c // groups, r, s), dtype, "contiguous")
        b = _tensor(data, (k, 1, 1, 1), dtype, "contiguous").flatten() if with_bias else None
        what = (f"conv2d {backend}: x{list(x.shape)}@{x.stride()} {dtype} w{list(wt.shape)} "
                f"stride={stride} padding={padding} dilation={dilation} groups={groups} "
                f"bias={with_bias}")
        args = (stride, padding, dilation, groups)
        assert_property(what, lambda x, w, b: ops.conv2d(x, w, b, *args, backend=backend),
                        lambda x, w, b: F.conv2d(x, w, b, *args), (x, wt, b))
    check()


@pytest.mark.parametrize("backend,device", PROPERTY_BACKENDS)
def test_property_pools(backend, device):
    @_examples(backend)
    @given(data=st.data())
    def check(data):
        kind = data.draw(st.sampled_from(["max", "avg", "adaptive_avg", "adaptive_max"]),
                         label="pool")
        n, c = data.draw(st.integers(0, 2), label="N"), data.draw(st.integers(1, 4), label="C")
        h, w = data.draw(st.integers(1, 9), label="H"), data.draw(st.integers(1, 9), label="W")
        dtype = data.draw(_dtypes(backend), label="dtype")
        layout = data.draw(st.sampled_from(LAYOUTS), label="layout")
        x = _tensor(data, (n, c, h, w), dtype, layout)
        if kind.startswith("adaptive"):
            size = (data.draw(st.integers(1, 5), label="OH"),
                    data.draw(st.integers(1, 5), label="OW"))
            kwargs = {"output_size": size}
            if kind == "adaptive_max":
                kwargs["return_indices"] = data.draw(st.booleans(), label="return_indices")
        else:
            kernel = data.draw(st.integers(1, 4), label="kernel")
            kwargs = {"kernel_size": kernel, "stride": data.draw(st.integers(1, 3), label="s"),
                      "padding": data.draw(st.integers(0, kernel // 2), label="padding"),
                      "ceil_mode": data.draw(st.booleans(), label="ceil_mode")}
            if kind == "max":
                kwargs["dilation"] = data.draw(st.integers(1, 2), label="dilation")
                kwargs["return_indices"] = data.draw(st.booleans(), label="return_indices")
            else:
                kwargs["count_include_pad"] = data.draw(st.booleans(), label="count_pad")
                kwargs["divisor_override"] = data.draw(
                    st.sampled_from([None, None, 3, -2]), label="divisor_override")
        name = f"{kind}_pool2d"
        what = f"{name} {backend}: x{list(x.shape)}@{x.stride()} {dtype} {kwargs}"
        assert_property(what, lambda x: getattr(ops, name)(x, **kwargs, backend=backend),
                        lambda x: getattr(F, name)(x, **kwargs), (x,))
    check()


@pytest.mark.parametrize("backend,device", PROPERTY_BACKENDS)
def test_property_local_response_norm(backend, device):
    @_examples(backend)
    @given(data=st.data(), size=st.integers(1, 6),
           alpha=st.sampled_from([1e-4, 0.5, 2.0]), beta=st.sampled_from([0.0, 0.5, 0.75, 1.3]),
           k=st.sampled_from([0.5, 1.0, 2.0]))
    def check(data, size, alpha, beta, k):
        n, c = data.draw(st.integers(0, 2), label="N"), data.draw(st.integers(1, 7), label="C")
        h, w = data.draw(st.integers(1, 5), label="H"), data.draw(st.integers(1, 5), label="W")
        dtype = data.draw(_dtypes(backend), label="dtype")
        x = _tensor(data, (n, c, h, w), dtype, data.draw(st.sampled_from(LAYOUTS), label="lay"))
        what = (f"local_response_norm {backend}: x{list(x.shape)}@{x.stride()} {dtype} "
                f"size={size} alpha={alpha} beta={beta} k={k}")
        # The documented difference: kernel backends give NCHW or channels_last output.
        stated = None if backend == "torch" else (
            lambda e: torch.empty(e.shape, memory_format=output_memory_format(x)))
        assert_property(
            what, lambda x: ops.local_response_norm(x, size, alpha, beta, k, backend=backend),
            lambda x: F.local_response_norm(x, size, alpha, beta, k), (x,), strides_of=stated)
    check()


@pytest.mark.parametrize("backend,device", PROPERTY_BACKENDS)
def test_property_resize_conv2d(backend, device):
    @_examples(backend)
    @given(data=st.data())
    def check(data):
        mode = data.draw(st.sampled_from(["nearest", "bilinear"]), label="mode")
        align = mode == "bilinear" and data.draw(st.booleans(), label="align_corners")
        scale = data.draw(st.integers(1, 3), label="scale")
        n, c, k = (data.draw(st.integers(lo, 3), label=n) for lo, n in
                   ((0, "N"), (1, "C"), (1, "K")))
        h, w = data.draw(st.integers(1, 5), label="H"), data.draw(st.integers(1, 5), label="W")
        r = data.draw(st.integers(1, 4), label="kernel")
        stride, padding = (data.draw(st.integers(lo, hi), label=n) for lo, hi, n in
                           ((1, 2, "stride"), (0, 2, "padding")))
        dtype = data.draw(_dtypes(backend), label="dtype")
        x = _tensor(data, (n, c, h, w), dtype, data.draw(st.sampled_from(LAYOUTS), label="lay"))
        wt = _tensor(data, (k, c, r, r), dtype, "contiguous")
        interp = {"scale_factor": scale, "mode": mode,
                  "align_corners": align if mode == "bilinear" else None}
        what = (f"resize_conv2d {backend}: x{list(x.shape)}@{x.stride()} {dtype} "
                f"w{list(wt.shape)} {interp} padding={padding} stride={stride}")
        assert_property(
            what, lambda x, w: ops.resize_conv2d(x, w, None, scale, mode, padding, stride,
                                                 align_corners=bool(align), backend=backend),
            lambda x, w: F.conv2d(F.interpolate(x, **interp), w, None, stride, padding),
            (x, wt))
    check()
