"""Backend registry and selection.

Each public op has up to three implementations:

* ``"cuda"``   — our hand-written CUDA kernels (``convkernels._C``),
* ``"triton"`` — the Triton variants (``convkernels.triton``),
* ``"torch"``  — eager PyTorch (cuDNN on a GPU); also the reference.

Selection for one call, first match wins:

1. the call's ``backend=`` argument;
2. ``with convkernels.use_backend(name):`` (context-local);
3. ``convkernels.set_backend(name)`` (process-wide);
4. the ``CONVKERNELS_BACKEND`` environment variable;
5. ``"auto"``.

A named backend that cannot run the call raises :class:`BackendUnavailableError` saying
why; there is never a silent fallback from an explicit request. ``"auto"`` picks, for a CUDA
tensor, ``cuda`` or ``triton`` only where a committed GPU report measured that kernel at least as
fast as PyTorch for this GPU, op, dtype, layout and pass (the generated
``dispatch_table.json``, see :mod:`convkernels._measured`), and ``torch`` (cuDNN) everywhere
else; ``CONVKERNELS_ALLOW_UNVERIFIED=1`` lets it try ``cuda`` then ``triton`` anyway (for
benchmarking). For a CPU tensor: ``torch``, or ``triton`` when ``TRITON_INTERPRET=1`` (how CI
runs Triton).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import torch

from . import _extension, _measured


def environment_variable(name: str) -> Callable[[], Optional[str]]:
    """A reader of one environment variable for the per-call path.

    ``os.environ.get`` encodes the key and walks the ``Mapping`` protocol on every call
    (about 0.7 µs, several times per op). This reads the same dict ``os.environ`` writes to
    (so ``os.environ[...] = ...`` and ``monkeypatch.setenv`` are seen at once), with the key
    encoded once; where that dict is not there it falls back to ``os.environ.get``.
    """
    data = getattr(os.environ, "_data", None)
    encodekey = getattr(os.environ, "encodekey", None)
    decodevalue = getattr(os.environ, "decodevalue", None)
    if not isinstance(data, dict) or encodekey is None or decodevalue is None:
        return lambda: os.environ.get(name)
    key = encodekey(name)

    def read() -> Optional[str]:
        value = data.get(key)
        return None if value is None else decodevalue(value)
    return read


_env_backend = environment_variable("CONVKERNELS_BACKEND")
_env_triton_interpret = environment_variable("TRITON_INTERPRET")
_env_allow_unverified = environment_variable("CONVKERNELS_ALLOW_UNVERIFIED")

BACKENDS = ("cuda", "triton", "torch")
_CHOICES = BACKENDS + ("auto",)

class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run this call."""


@dataclass
class Call:
    """What a backend needs to know to decide whether it supports one call."""

    op: str
    device: torch.device
    dtype: torch.dtype
    groups: int = 1
    # Whether autograd will need a backward: lets a backend whose kernel has no backward for
    # some mode refuse with a clear reason instead of silently detaching.
    needs_grad: bool = False
    extra: dict = field(default_factory=dict)
    # "channels_last" or "nchw" (see layout_of); "" when unknown, which auto treats as unmeasured.
    layout: str = ""


def layout_of(x: torch.Tensor) -> str:
    """The layout a GPU report's rows are keyed on: channels_last when C is innermost."""
    if x.dim() == 4 and x.size(1) > 1 and x.stride(1) == 1:
        return "channels_last"
    return "nchw"


Supports = Callable[[Call], str]  # returns "" when supported, else the reason


@dataclass
class Implementation:
    op: str
    backend: str
    fn: Callable
    supports: Supports
    # False when registered without a ``supports`` rule (it takes every call): lets select()
    # skip building the reasons for a call that can only go one way.
    checks_calls: bool = True


def _supports_every_call(call: "Call") -> str:
    return ""


_REGISTRY: dict[str, dict[str, Implementation]] = {}
_context_backend: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "convkernels_backend", default=None)
_global_backend: Optional[str] = None


def register(op: str, backend: str, supports: Optional[Supports] = None):
    """Decorator: register ``fn`` as the ``backend`` implementation of ``op``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")

    def deco(fn):
        _REGISTRY.setdefault(op, {})[backend] = Implementation(
            op, backend, fn, supports or _supports_every_call, supports is not None)
        _SELECTIONS.pop(op, None)
        return fn
    return deco


def _validate_name(name: Optional[str], where: str) -> Optional[str]:
    if name is None:
        return None
    if name not in _CHOICES:
        raise ValueError(f"{where}: unknown backend {name!r}; expected one of {_CHOICES}")
    return name


def set_backend(name: Optional[str]) -> None:
    """Set the process-wide default backend ("cuda", "triton", "torch", "auto" or None)."""
    global _global_backend
    _global_backend = _validate_name(name, "convkernels.set_backend")


# torch.compile traces get_backend() once and keeps its answer in the graph (as it does with
# torch.backends flags): older Dynamo (torch <= 2.13) cannot trace ContextVar.get, and a
# graph that re-read the environment on every call would not be a graph.
_constant_under_compile = _measured.constant_under_compile


@_constant_under_compile
def get_backend() -> str:
    """The backend a call without ``backend=`` would request right now. Inside a compiled
    region: the one requested when the region was traced."""
    chosen = _context_backend.get() or _global_backend
    if chosen:
        return chosen
    env = _env_backend()   # read per call: monkeypatch.setenv and os.environ edits apply at once
    return _validate_name(env, "CONVKERNELS_BACKEND") if env else "auto"


@contextlib.contextmanager
def use_backend(name: Optional[str]) -> Iterator[None]:
    """Context manager: calls inside use ``name`` unless they pass ``backend=`` themselves."""
    token = _context_backend.set(_validate_name(name, "convkernels.use_backend"))
    try:
        yield
    finally:
        _context_backend.reset(token)


# ---- availability of each backend on this machine and device ------------------------------

_KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@_constant_under_compile
def _interpreting() -> bool:
    return _env_triton_interpret() == "1"


@_constant_under_compile
def _allow_unverified() -> bool:
    return _env_allow_unverified() == "1"


def backend_problem(backend: str, call: Call) -> str:
    """Empty string when ``backend`` can run ``call`` here, else the reason."""
    impl = _REGISTRY.get(call.op, {}).get(backend)
    if impl is None:
        return f"convkernels.{call.op} has no {backend!r} implementation"
    if backend == "cuda":
        loaded, why = _extension.load()
        if not loaded:
            return why
        if call.device.type != "cuda":
            return f"the cuda backend needs CUDA tensors, got tensors on {call.device}"
        arch = _extension.arch_problem(call.device)
        if arch:
            return arch
        if call.dtype not in _KERNEL_DTYPES:
            return f"the cuda kernels support float32, float16 and bfloat16, not {call.dtype}"
    elif backend == "triton":
        from . import triton as _triton
        ok, why = _triton.is_available()
        if not ok:
            return why
        if call.device.type == "cpu" and not _interpreting():
            return ("the triton backend runs CPU tensors only under the Triton interpreter "
                    "(set TRITON_INTERPRET=1 before importing triton)")
        if call.device.type not in ("cuda", "cpu"):
            return f"the triton backend does not run on {call.device.type} tensors"
        if call.dtype not in _KERNEL_DTYPES:
            return f"the triton kernels support float32, float16 and bfloat16, not {call.dtype}"
    return impl.supports(call)


def _auto_order(call: Call) -> tuple[list[str], dict[str, str]]:
    skipped: dict[str, str] = {}
    if call.device.type == "cuda":
        order = []
        allow_unmeasured = _allow_unverified()
        # The GPU's name only matters when some report measured a win (and reading it is not
        # free): with an empty table every kernel backend is skipped without it.
        gpu = _measured.device_name(call.device) if _measured.any_backend_wins() else None
        for b in ("cuda", "triton"):
            if allow_unmeasured or _measured.backend_win(call.op, b, gpu, call.dtype,
                                                          call.layout, call.needs_grad):
                order.append(b)
            else:
                skipped[b] = (f"no committed GPU report measured it faster than PyTorch for "
                              f"{call.op} on {gpu or 'this GPU'}, "
                              f"{_measured.DTYPE_NAMES.get(call.dtype, call.dtype)}, "
                              f"{call.layout or 'this layout'}"
                              f"{', with backward' if call.needs_grad else ''} "
                              f"(CONVKERNELS_ALLOW_UNVERIFIED=1 lets auto use it anyway)")
        return order + ["torch"], skipped
    if call.device.type == "cpu" and _interpreting():
        return ["triton", "torch"], skipped
    return ["torch"], skipped


def measured_reason(call: Call, backend: str) -> str:
    """The report rows that let auto choose ``backend`` for ``call`` (empty if none)."""
    if not _measured.any_backend_wins():
        return ""
    win = _measured.backend_win(call.op, backend, _measured.device_name(call.device), call.dtype,
                                call.layout, call.needs_grad)
    if not win:
        return ""
    rows = ", ".join(f"{r['row']} {r['speedup_vs_cudnn']:.2f}x" for r in win["rows"][:3])
    more = f" (+{len(win['rows']) - 3} rows)" if len(win["rows"]) > 3 else ""
    return f"measured faster than cuDNN in {win['rows'][0]['report']}: {rows}{more}"


class Selection:
    """The implementation chosen for one call, how it was requested, and why each backend
    tried before it was passed over (``skipped``, computed when first read)."""

    __slots__ = ("implementation", "requested", "_skipped", "_call")

    def __init__(self, implementation: Implementation, requested: str,
                 skipped: Optional[dict[str, str]] = None, call: Optional[Call] = None):
        self.implementation = implementation
        self.requested = requested
        self._skipped = skipped
        self._call = call

    @property
    def backend(self) -> str:
        return self.implementation.backend

    @property
    def skipped(self) -> dict[str, str]:
        if self._skipped is None:
            self._skipped = _auto_order(self._call)[1] if self._call is not None else {}
        return self._skipped


# The torch implementation of each op, as a Selection per way of asking for it, built once.
_SELECTIONS: dict[str, dict[str, Selection]] = {}


def _torch_selection(op: str, requested: str, impls: dict[str, Implementation]
                     ) -> Optional[Selection]:
    by_request = _SELECTIONS.get(op)
    if by_request is None:
        by_request = _SELECTIONS[op] = {}
        impl = impls.get("torch")
        if impl is not None and not impl.checks_calls:
            by_request["torch"] = Selection(impl, "torch", {})
            by_request["auto"] = Selection(impl, "auto", {})
    return by_request.get(requested)


def _auto_is_torch(device: torch.device) -> bool:
    """Whether ``auto`` picks torch for every call on ``device`` (whatever op, dtype or
    layout): a CPU tensor outside the Triton interpreter, or a GPU for which no committed
    report measured any kernel faster (and unmeasured kernels are not allowed)."""
    if device.type == "cpu":
        return not _interpreting()
    return (device.type == "cuda" and not _measured.any_backend_wins()
            and not _allow_unverified())


def runs_on_torch(requested: Optional[str], x: torch.Tensor) -> bool:
    """Whether a call asking for ``requested`` with tensors like ``x`` runs the torch backend
    whatever its other arguments. Modules that mirror a torch module use it to run torch's
    own forward (torch's arithmetic and torch's errors) without building a :class:`Call`:
    that is the whole per-call cost of a module on the torch backend."""
    requested = requested or get_backend()
    if requested == "torch":
        return True
    if requested != "auto":
        return False
    if x.is_cpu:   # (Tensor.is_cpu is ~5x cheaper than building x.device)
        return _env_triton_interpret() != "1"   # not _interpreting(), one call fewer
    return (x.is_cuda and not _measured.any_backend_wins()) and not _allow_unverified()


def select(call: Call, requested: Optional[str] = None) -> Selection:
    """Choose the implementation for one call (see the module docstring for the rules)."""
    requested = _validate_name(requested, f"convkernels.{call.op}") or get_backend()
    impls = _REGISTRY.get(call.op)
    if not impls:
        raise KeyError(f"no implementations registered for op {call.op!r}")
    # The common case costs one dict lookup: a call that can only go to torch.
    if requested == "torch" or (requested == "auto" and _auto_is_torch(call.device)):
        fast = _torch_selection(call.op, requested, impls)
        if fast is not None:
            if requested == "auto" and call.device.type == "cuda":
                return Selection(fast.implementation, "auto", None, call)
            return fast
    if requested != "auto":
        why = backend_problem(requested, call)
        if why:
            raise BackendUnavailableError(
                f"convkernels.{call.op}: backend {requested!r} cannot run this call: {why}")
        return Selection(impls[requested], requested, {})
    order, skipped = _auto_order(call)
    for b in order:
        why = backend_problem(b, call)
        if not why:
            return Selection(impls[b], "auto", skipped)
        skipped[b] = why
    raise BackendUnavailableError(
        f"convkernels.{call.op}: no backend can run this call: "
        + "; ".join(f"{b}: {w}" for b, w in skipped.items()))


def choose(op: str, requested: Optional[str], x: torch.Tensor, *, needs_grad: bool = False,
           groups: int = 1, extra: Optional[dict] = None) -> Callable:
    """The function that runs one call of ``op`` on tensors like ``x``: :func:`select` for
    op bodies, without building a :class:`Call` when the call can only go to a torch
    implementation that takes every call (the whole per-call cost on the CPU)."""
    if requested is None:
        requested = get_backend()
    elif requested not in _CHOICES:
        _validate_name(requested, f"convkernels.{op}")
    if runs_on_torch(requested, x):
        fast = _torch_selection(op, requested, _REGISTRY.get(op, {}))
        if fast is not None:
            return fast.implementation.fn
    call = Call(op, x.device, x.dtype, groups, needs_grad, {} if extra is None else extra,
                layout_of(x))
    return select(call, requested).implementation.fn


def registered_ops() -> list[str]:
    return sorted(_REGISTRY)


def implementations(op: str) -> dict[str, Implementation]:
    return dict(_REGISTRY.get(op, {}))
