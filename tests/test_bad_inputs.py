"""The bad-input checklist: a clear error naming the op and the argument, raised
before any kernel launch, identical whichever backend was asked for."""

import importlib
import importlib.machinery
import json
import sys
import types

import pytest
import torch

import convkernels
from convkernels import _extension, ops

BACKENDS = [None, "torch", "triton", "cuda"]


def _conv_args(**over):
    args = dict(input=torch.randn(2, 4, 8, 8), weight=torch.randn(6, 4, 3, 3),
                bias=torch.randn(6), stride=1, padding=1, dilation=1, groups=1)
    args.update(over)
    return args


def _bn(K=6, **over):
    d = dict(running_mean=torch.zeros(K), running_var=torch.ones(K), bn_weight=torch.ones(K),
             bn_bias=torch.zeros(K))
    d.update(over)
    return d


def call_conv2d(backend, **over):
    return ops.conv2d(**_conv_args(**over), backend=backend)


def call_fused(backend, bn=None, residual=None, training=False, **over):
    a = _conv_args(**over)
    return ops.fused_conv_bn_relu(a.pop("input"), a.pop("weight"), a.pop("bias"),
                                  **(bn or _bn()), **a, residual=residual, training=training,
                                  backend=backend)


CALLS = {"conv2d": call_conv2d, "fused_conv_bn_relu": call_fused}

# (id, overrides, exception, message regex) — shared by both ops
CONV_CASES = [
    ("device-mismatch", dict(weight=torch.randn(6, 4, 3, 3, device="meta")), RuntimeError,
     "expected all tensors on one device, but input is on cpu and weight is on meta"),
    ("int-input", dict(input=torch.ones(2, 4, 8, 8, dtype=torch.int32)), TypeError,
     "input must be a floating-point tensor"),
    ("mixed-dtypes", dict(input=torch.randn(2, 4, 8, 8).half()), TypeError,
     r"input dtype \(torch.float16\) and weight dtype \(torch.float32\) must be the same"),
    ("bias-dtype", dict(bias=torch.randn(6).double()), TypeError, "bias dtype"),
    ("input-2d", dict(input=torch.randn(8, 8)), ValueError,   # conv2d takes 3-D (unbatched)
     r"expected 4-D input .* got 2-D input of shape \[8, 8\]"),
    ("weight-2d", dict(weight=torch.randn(6, 4)), ValueError, "expected weight to be 4-D"),
    ("channels", dict(weight=torch.randn(6, 3, 3, 3)), ValueError,
     r"expected input\[2, 4, 8, 8\] to have 3 channels, but got 4 channels"),
    ("groups-divide-c", dict(groups=3, weight=torch.randn(6, 1, 3, 3)), ValueError,
     r"input channels \(4\) must be divisible by groups \(3\)"),
    ("groups-divide-k", dict(groups=2, weight=torch.randn(5, 2, 3, 3), bias=None), ValueError,
     r"out_channels \(5\) .* must be divisible by groups \(2\)"),
    ("groups-zero", dict(groups=0), ValueError, "groups must be a positive int"),
    ("bias-length", dict(bias=torch.randn(5)), ValueError, r"bias must have shape \[6\]"),
    ("stride-zero", dict(stride=0), ValueError, r"stride must be positive, got \(0, 0\)"),
    ("stride-negative", dict(stride=(1, -2)), ValueError, "stride must be positive"),
    ("dilation-zero", dict(dilation=0), ValueError, "dilation must be positive"),
    ("padding-negative", dict(padding=-1), ValueError, "padding must be non-negative"),
    ("padding-string", dict(padding="full"), ValueError, "padding must be an int, a pair"),
    ("same-strided", dict(padding="same", stride=2), ValueError, "'same' is not supported"),
    ("stride-float", dict(stride=1.5), TypeError, "stride must be an int or a pair of ints"),
    ("stride-triple", dict(stride=(1, 1, 1)), TypeError, "stride must be an int or a pair"),
    ("output-too-small", dict(input=torch.randn(2, 4, 2, 2), padding=0), ValueError,
     "output size is too small"),
    ("empty-spatial", dict(input=torch.randn(2, 4, 0, 8)), ValueError,
     "input spatial size must be non-zero"),
    ("empty-kernel", dict(weight=torch.randn(6, 4, 0, 3)), ValueError,
     "kernel size must be positive"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", CALLS)
@pytest.mark.parametrize("case_id,over,exc,msg", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_argument_errors(op, backend, case_id, over, exc, msg):
    with pytest.raises(exc, match=f"convkernels.{op}: .*{msg}"):
        CALLS[op](backend, **over)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_input_and_weight_on_two_devices_raise(backend):
    over = dict(weight=torch.randn(6, 4, 3, 3, device="cuda"))
    with pytest.raises(RuntimeError, match="convkernels.conv2d: .*one device"):
        call_conv2d(backend, **over)


@pytest.mark.parametrize("on_meta", ["weight", "bias"])
@pytest.mark.parametrize("op", ["conv2d", "depthwise_conv2d"])
def test_meta_weight_or_bias_with_a_cpu_input_is_refused_on_the_torch_backend(op, on_meta):
    """torch's own CPU conv2d takes a meta weight or bias and returns uninitialized memory
    (torch 2.15). On the torch backend the op is otherwise torch's conv2d: this it refuses."""
    args = dict(input=torch.randn(2, 4, 8, 8), weight=torch.randn(4, 4 if op == "conv2d" else 1,
                                                                   3, 3), bias=torch.randn(4))
    args[on_meta] = args[on_meta].to("meta")
    with pytest.raises(RuntimeError, match=f"convkernels.{op}: .*one device"):
        getattr(ops, op)(**args, backend="torch")


BN_CASES = [
    ("mean-length", dict(bn=_bn(running_mean=torch.zeros(5))), ValueError,
     r"running_mean must have shape \[6\]"),
    ("var-2d", dict(bn=_bn(running_var=torch.ones(6, 1))), ValueError, "running_var must have"),
    ("gamma-length", dict(bn=_bn(bn_weight=torch.ones(7))), ValueError, "bn_weight must have"),
    ("beta-int", dict(bn=_bn(bn_bias=torch.zeros(6, dtype=torch.long))), TypeError,
     "bn_bias must be a floating-point tensor"),
    ("stats-device", dict(bn=_bn(running_var=torch.ones(6, device="meta"))), RuntimeError,
     "running_var is on meta"),
    ("one-stat", dict(bn=_bn(running_var=None)), ValueError, "must both be given"),
    ("eval-without-stats", dict(bn=_bn(running_mean=None, running_var=None)), ValueError,
     "required when training=False"),
    ("residual-shape", dict(residual=torch.randn(2, 6, 7, 7)), ValueError,
     r"residual must have the output's shape \[2, 6, 8, 8\], got \[2, 6, 7, 7\]"),
    ("residual-dtype", dict(residual=torch.randn(2, 6, 8, 8).half()), TypeError,
     "residual dtype"),
    ("one-value-per-channel", dict(input=torch.randn(1, 4, 3, 3), padding=0, training=True),
     ValueError, "more than 1 value per channel"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case_id,over,exc,msg", BN_CASES, ids=[c[0] for c in BN_CASES])
def test_batch_norm_argument_errors(backend, case_id, over, exc, msg):
    with pytest.raises(exc, match=f"convkernels.fused_conv_bn_relu: .*{msg}"):
        call_fused(backend, **over)


@pytest.mark.parametrize("op", CALLS)
def test_cpu_tensors_to_cuda_backend(op):
    with pytest.raises(convkernels.BackendUnavailableError, match="backend 'cuda' cannot run"):
        CALLS[op]("cuda")


@pytest.mark.triton
@pytest.mark.parametrize("op", CALLS)
def test_float64_has_no_kernel(op, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    from convkernels import triton as ck_triton
    if not ck_triton.is_available()[0]:
        pytest.skip(f"triton unusable here: {ck_triton.is_available()[1]}")
    a = dict(input=torch.randn(2, 4, 8, 8).double(), weight=torch.randn(6, 4, 3, 3).double(),
             bias=torch.randn(6).double())
    bn = {k: v.double() for k, v in _bn().items()}
    with pytest.raises(convkernels.BackendUnavailableError, match="not torch.float64"):
        CALLS[op]("triton", **a) if op == "conv2d" else call_fused("triton", bn=bn, **a)
    # auto falls back to the torch backend, which supports float64
    out = CALLS[op](None, **a) if op == "conv2d" else call_fused(None, bn=bn, **a)
    assert out.dtype == torch.float64


def test_extension_built_for_another_torch_names_the_rebuild_command(monkeypatch):
    fake = types.ModuleType("convkernels._C")
    fake.__spec__ = importlib.machinery.ModuleSpec("convkernels._C", None)
    monkeypatch.setitem(sys.modules, "convkernels._C", fake)
    monkeypatch.setattr(importlib, "import_module", lambda name: (_ for _ in ()).throw(
        ImportError("undefined symbol: _ZN3c104impl8GPUTrace")))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: fake.__spec__
                        if name == "convkernels._C" else real_find_spec(name, *a))
    monkeypatch.setattr(_extension, "_BUILD_INFO", {"torch": torch.__version__})
    loaded, why = _extension._load_once()
    assert not loaded
    assert "pip install --no-build-isolation" in why
    assert "different torch" in why and "undefined symbol" in why


def _fake_extension(monkeypatch, tmp_path, facts=None):
    """A stand-in convkernels._C at tmp_path, with _C.build.json beside it when facts given."""
    so = tmp_path / "_C.fake.so"
    so.write_bytes(b"")
    if facts is not None:
        (tmp_path / _extension.BUILD_FACTS_NAME).write_text(json.dumps(facts))
    fake = types.ModuleType("convkernels._C")
    fake.__spec__ = importlib.machinery.ModuleSpec("convkernels._C", None, origin=str(so))
    monkeypatch.setitem(sys.modules, "convkernels._C", fake)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: fake.__spec__
                        if name == "convkernels._C" else real_find_spec(name, *a))
    monkeypatch.setattr(_extension, "_BUILD_INFO", None)
    return fake


def _load_uncached():
    return _extension._load_once()


def test_extension_torch_version_mismatch_message(monkeypatch, tmp_path):
    _fake_extension(monkeypatch, tmp_path, {"torch": "1.0.0", "archs": ["sm_90"]})
    loaded, why = _load_uncached()
    assert not loaded and "built against torch 1.0.0" in why and "--force-reinstall" in why


def test_extension_without_build_facts_names_the_rebuild_command(monkeypatch, tmp_path):
    _fake_extension(monkeypatch, tmp_path)
    loaded, why = _load_uncached()
    assert not loaded and "_C.build.json" in why and "--force-reinstall" in why


def test_loading_the_extension_runs_none_of_its_code(monkeypatch, tmp_path):
    """Import reads the build facts from a file: no compiled operator, no function of _C (one
    crashed torch 2.11's process on the reference GPU machine)."""
    fake = _fake_extension(monkeypatch, tmp_path, {"torch": torch.__version__,
                                                   "archs": ["sm_90"]})

    def crash(*_):
        raise AssertionError("load() called into the compiled library")
    fake._runtime_selftest = crash

    class NoOps:
        def __getattr__(self, name):
            raise AssertionError(f"load() touched torch.ops.{name}")
    monkeypatch.setattr(torch, "ops", NoOps())
    loaded, why = _extension._load_once()
    assert loaded, why
    assert _extension.compiled_archs() == ["sm_90"]


def test_wrong_arch_names_the_rebuild_command(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (8, 6))
    monkeypatch.setattr(_extension, "compiled_archs", lambda: ["sm_80", "sm_90"])
    why = _extension.arch_problem(torch.device("cuda"))
    assert "sm_86" in why and "TORCH_CUDA_ARCH_LIST=8.6" in why
    monkeypatch.setattr(_extension, "compiled_archs", lambda: ["sm_86"])
    assert _extension.arch_problem(torch.device("cuda")) == ""
    monkeypatch.setattr(_extension, "compiled_archs", lambda: ["sm_80", "compute_80"])
    assert _extension.arch_problem(torch.device("cuda")) == ""  # PTX JIT-compiles forward
    monkeypatch.setattr(_extension, "compiled_archs", lambda: ["sm_90a", "compute_90a"])
    assert "TORCH_CUDA_ARCH_LIST=8.6" in _extension.arch_problem(torch.device("cuda"))


def test_built_extension_passes_its_runtime_selftest():
    """The C++ runtime the built library runs against formats TORCH_CHECK messages (checked in
    a subprocess: a mismatched libstdc++ crashes instead of failing)."""
    loaded, why = _extension.load()
    if not loaded:
        pytest.skip(why)
    import subprocess
    from pathlib import Path
    tool = Path(__file__).resolve().parents[1] / "tools" / "check_extension_runtime.py"
    done = subprocess.run([sys.executable, str(tool)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "streams ok (42, 0.5); checks ok (7)" in done.stdout


def test_extension_with_a_static_cxx_runtime_is_refused_with_the_fix(monkeypatch, tmp_path):
    """A library that carries its own libstdc++ crashes in iostreams (every TORCH_CHECK message)
    on the reference GPU machine; it is refused up front with the rebuild command."""
    _fake_extension(monkeypatch, tmp_path, {"torch": torch.__version__, "archs": ["sm_90"],
                                            "host_compiler": "/opt/gcc/bin/g++: g++ 13.3.0",
                                            "libstdcxx_linkage": "static"})
    loaded, why = _load_uncached()
    assert not loaded
    assert "static copy of the C++ standard library" in why and "CXX=/usr/bin/g++" in why
    assert "--force-reinstall" in why


def test_remembered_checks_still_refuse_lookalike_arguments():
    """check_conv2d remembers the calls that passed; an argument equal to a remembered one
    but of another type (True == 1, 1.0 == 1, [1, 1] == (1, 1) as values) is still checked."""
    from convkernels import _checks
    x, w = torch.randn(1, 4, 6, 6), torch.randn(4, 4, 3, 3)

    def check(*args):
        input, weight = args[4:] or (x, w)   # (stride, padding, dilation, groups[, x, w])
        return _checks.check_conv2d("conv2d", input, weight, None, *args[:4])
    check(1, 1, 1, 1)
    check((1, 1), (1, 1), (1, 1), 1)
    assert any(key[0] == "conv2d" for key in _checks._CONV2D_RESULTS)
    with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
        check(True, 1, 1, 1)
    with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
        check((True, 1), 1, 1, 1)
    with pytest.raises(TypeError, match="dilation must be an int or a pair of ints"):
        check(1, 1, 1.0, 1)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        check(1, 1, 1, True)
    # a remembered shape does not vouch for another dtype, device or weight
    with pytest.raises(TypeError, match="input dtype"):
        check(1, 1, 1, 1, x.double(), w)
    with pytest.raises(ValueError, match="channels"):
        check(1, 1, 1, 1, x, torch.randn(4, 3, 3, 3))
    # and the op, which on the torch backend is F.conv2d itself, names the argument too
    with pytest.raises(TypeError, match="convkernels.conv2d: stride must be an int or a pair"):
        ops.conv2d(x, w, None, True, 1)


def test_remembered_fused_checks_key_on_the_flags_types():
    """The fused ops remember whole-call checks (_checks.call_key). A flag equal to a
    remembered one but of a refused type (momentum=True == 1 == 1.0) still fails its check,
    and a remembered call does not vouch for other vectors."""
    from convkernels import _checks
    a = _conv_args()
    x, w, b = a["input"], a["weight"], a["bias"]
    bn = _bn()
    ops.fused_conv_bn_relu(x, w, b, **bn, padding=1, momentum=1.0, backend="torch")
    ops.fused_conv_bn_relu(x, w, b, **bn, padding=1, momentum=1, backend="torch")
    assert _checks.call_key("k", (x,), (1,), (1.0,)) != _checks.call_key("k", (x,), (1,), (True,))
    assert _checks.call_key("k", (x,), ([1, 1],), ()) is None   # a list makes no key
    with pytest.raises(TypeError, match="momentum must be a number"):
        ops.fused_conv_bn_relu(x, w, b, **bn, padding=1, momentum=True, backend="torch")
    with pytest.raises(ValueError, match=r"running_mean must have shape \[6\]"):
        ops.fused_conv_bn_relu(x, w, b, **_bn(running_mean=torch.zeros(5)), padding=1,
                               momentum=1.0, backend="torch")
    scale = torch.ones(6)
    ops.conv2d_affine(x, w, scale, None, padding=1, backend="torch")
    with pytest.raises(ValueError, match=r"scale must have shape \[6\]"):
        ops.conv2d_affine(x, w, torch.ones(5), None, padding=1, backend="torch")
