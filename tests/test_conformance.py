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
from hypothesis import settings

from convkernels import ops
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


def _run(fn, sample, **extra):
    """(result, None) or (None, exception)."""
    try:
        return fn(sample.input, *sample.args, **sample.kwargs, **extra), None
    except Exception as e:   # whether an error is raised is part of the contract
        return None, e


def assert_conforms(opinfo, sample, backend: str) -> None:
    """Our op against torch's on one OpInfo sample, in every respect of the contract."""
    what = f"{_opinfo_id(opinfo)} on {backend}: {_describe(sample)}"
    expected, expected_error = _run(opinfo.op, sample)
    ours, our_error = _run(MIRRORS[opinfo.name], sample, backend=backend)
    if expected_error is not None or our_error is not None:
        assert (expected_error is None) == (our_error is None), (
            f"{what}: torch {'raised ' + repr(expected_error) if expected_error else 'ran'}, "
            f"ours {'raised ' + repr(our_error) if our_error else 'ran'}")
        return
    reference64 = None
    for i, (o, e) in enumerate(zip(_flat(ours), _flat(expected), strict=True)):
        label = f"{what} [output {i}]"
        assert o.shape == e.shape, f"{label}: shape {tuple(o.shape)} != {tuple(e.shape)}"
        assert o.dtype == e.dtype, f"{label}: dtype {o.dtype} != {e.dtype}"
        assert o.stride() == e.stride(), f"{label}: strides {o.stride()} != {e.stride()}"
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
