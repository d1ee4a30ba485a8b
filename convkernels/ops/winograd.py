"""Winograd convolution F(2x2, 3x3) and F(4x4, 3x3): the algorithm behind
``conv2d(..., algo="winograd_2x2" | "winograd_4x4")`` and the folded-BN
``conv2d_affine`` / ``fused_conv_bn_relu`` (inference) with the same ``algo``.

Per backend:

* ``cuda`` / ``triton``: the weight is transformed once per weight version
  (``winograd_filter_transform``, cached, see :class:`FilterTransformCache`) and the fused
  ``winograd_conv2d_fused`` primitive does input transform, per-point GEMM over C and
  output transform + epilogue in one kernel: no transformed-input buffer in global memory.
* ``torch``: the pure-PyTorch algorithm of :mod:`convkernels.reference.winograd`, with the
  kernels' rounding points (the CPU numerics reference).

Backward: gradients go to the original ``weight`` (and input, scale, shift, residual) by
aten's ``convolution_backward`` (see :mod:`convkernels.ops.winograd_primitives`); the cached
transformed weight is a detached function of ``weight`` and never receives a gradient itself.

Intended difference from ``F.conv2d`` (NON_FINITE_NOTE): a single Inf or NaN input spreads
over the whole output tiles whose input patch contains it (Inf - Inf and 0 * Inf inside the
transforms give NaN), where the direct convolution makes only the outputs whose window
contains it non-finite. Every output torch makes non-finite is non-finite here too.
"""

from __future__ import annotations

import collections
import threading
import weakref
from typing import Optional

import torch
from torch import Tensor

from .. import _library
from ..backends import Call, choose, register
from ..precision import cuda_split_tf32_args
from ..reference import winograd as ref
from . import winograd_primitives  # noqa: F401  (registers the ops)
from ._common import as_f32, needs_grad

ALGOS = tuple(ref.TILES)  # ("winograd_2x2", "winograd_4x4")

#: The one sentence on non-finite inputs, for every place that says Winograd may run.
NON_FINITE_NOTE = ("Winograd spreads a single Inf or NaN input over whole output tiles "
                   "(NaN where the direct convolution is finite); inherent to the algorithm, "
                   "cuDNN's Winograd does the same")
OP = "conv2d_winograd"


def tile_of(algo: str) -> int:
    return ref.TILES[algo]


def unsupported_reason(g, algo: str) -> str:
    """Why Winograd F(m x m, 3x3) cannot compute this convolution ("" when it can)."""
    problems = []
    if (g.R, g.S) != (3, 3):
        problems.append(f"a 3x3 kernel (got {g.R}x{g.S})")
    if g.stride != (1, 1):
        problems.append(f"stride 1 (got {g.stride})")
    if g.dilation != (1, 1):
        problems.append(f"dilation 1 (got {g.dilation})")
    if g.groups != 1:
        problems.append(f"groups=1 (got {g.groups})")
    if not problems:
        return ""
    return f"algo={algo!r} (Winograd F(mxm,3x3)) needs " + ", ".join(problems)


def check_algo(op: str, g, algo: str) -> None:
    """An explicit Winograd request on a shape it cannot compute is an error, never a
    silent fallback to another algorithm."""
    why = unsupported_reason(g, algo)
    if why:
        raise ValueError(f"convkernels.{op}: {why}; use algo='direct' or 'auto'")


def route(op: str, input: Tensor, g, algo: str, backend: Optional[str],
          needs_grad: bool) -> tuple[str, Optional[str]]:
    """The hook of the conv ops: (algo, backend) to run. ``algo`` comes back as a Winograd
    tile name (run :func:`conv2d_affine`), or "auto" / "direct" for the caller's own path;
    ``backend`` is "torch" when the measured choice was cuDNN."""
    if algo in ALGOS:
        check_algo(op, g, algo)
        return algo, backend
    if algo != "auto" or input.device.type != "cuda":
        # Off a GPU no report can have measured another algorithm, so "auto" is the direct
        # path and the caller's own backend selection is the only one this call needs.
        return algo, backend
    from ..algo import choose  # late: algo imports this module
    choice = choose(g, input.dtype, input.device,
                    input.is_contiguous(memory_format=torch.channels_last)
                    and not input.is_contiguous(), backend, needs_grad)
    if choice.algo in ALGOS:
        return choice.algo, choice.backend
    if choice.algo == "cudnn" and choice.backend == "torch":
        return "auto", "torch"
    return "auto", backend


# ---- filter-transform cache ----------------------------------------------------------------

class FilterTransformCache:
    """Transformed filters ``U = G g G^T`` keyed on the weight's identity and version.

    Key: (backend, weight.data_ptr(), weight._version, dtype, tile, device, shape, strides).
    An in-place update of the weight (an optimizer step, ``load_state_dict``) bumps
    ``_version``, so the stale entry is never hit again; each entry also holds a weak
    reference to the weight tensor and is only hit while that very tensor is alive, so a
    new tensor reusing freed storage at the same address cannot see an old transform.
    Bounded LRU of ``max_entries`` (64: one per 3x3 layer of a large net); ``nbytes``
    reports the memory held. Not used while tracing (``torch.compile``: fake tensors have
    no storage) nor for inference-mode tensors (no version counter): those transform on
    every call.
    """

    def __init__(self, max_entries: int = 64):
        self.max_entries = max_entries
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def cacheable(weight: Tensor) -> bool:
        if torch.compiler.is_compiling() or weight.is_inference():
            return False
        try:
            weight.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):  # fake / functional tensors
            return False
        return weight.device.type != "meta"

    def get(self, backend: str, weight: Tensor, tile: int, transform) -> Tensor:
        if not self.cacheable(weight):
            with torch.no_grad():
                return transform(weight.detach(), tile)
        key = (backend, weight.data_ptr(), weight._version, weight.dtype, tile,
               weight.device, tuple(weight.shape), weight.stride())
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is weight:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
        with torch.no_grad():
            u = transform(weight.detach(), tile)
        with self._lock:
            self.misses += 1
            self._entries[key] = (weakref.ref(weight), u)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return u

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(u.numel() * u.element_size() for _, u in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


filter_cache = FilterTransformCache()


def workspace_bytes(g, algo: str, dtype: torch.dtype) -> dict[str, int]:
    """Memory the Winograd path needs beyond input and output, per backend design.

    ``transformed_filter``: the cached U, alpha^2 * K * C elements of the input dtype.
    ``transformed_input``: 0 for the cuda / triton kernels (V lives in shared memory /
    registers, one tile block at a time); for the torch reference it is the C-chunked V
    buffer, at most ``bound`` (= 2 x (input + output) bytes: the workspace limit the Winograd
    family promises).
    """
    m = tile_of(algo)
    alpha = m + 2
    elt = torch.empty((), dtype=dtype).element_size()
    io = (g.N * g.C * g.H * g.W + g.N * g.K * g.P * g.Q) * elt
    return {"transformed_filter": alpha * alpha * g.K * g.C * elt,
            "transformed_input_kernels": 0,
            "transformed_input_reference_max": 2 * io,
            "bound": 2 * io}


# ---- the op: one implementation per backend ------------------------------------------------

def conv2d_affine(input: Tensor, weight: Tensor, scale: Optional[Tensor],
                  shift: Optional[Tensor], residual: Optional[Tensor], g, relu: bool,
                  algo: str, backend: Optional[str], op: str = "conv2d") -> Tensor:
    """``act(conv3x3(input, weight) * scale + shift + residual)`` by Winograd. Arguments
    are already validated by the public op (``g`` is its ConvGeometry)."""
    check_algo(op, g, algo)
    fn = choose(OP, backend, input, needs_grad=needs_grad(input, weight, scale, shift, residual),
                groups=g.groups, extra={"algo": algo})
    return fn(input, weight, scale, shift, residual, g, relu, tile_of(algo))


@register(OP, "torch")
def _winograd_torch(input, weight, scale, shift, residual, g, relu, tile):
    # The reference keeps the filter transform in the autograd graph (no cache) when the
    # weight needs a gradient; otherwise it shares the cache like the kernels.
    if torch.is_grad_enabled() and weight.requires_grad:
        u = ref.filter_transform(weight, tile)
    else:
        u = filter_cache.get("torch", weight, tile, ref.filter_transform)
    return ref.winograd_conv2d(input, u, scale, shift, residual, g.padding, tile, relu)


def _winograd_kernels(backend, input, weight, scale, shift, residual, g, relu, tile):
    """The cuda fused op is told the float32 mode (its trailing ``split_tf32``: tf32x3); the
    triton kernels read it themselves."""
    transform = _library.op(backend, "winograd_filter_transform")
    u = filter_cache.get(backend, weight, tile, lambda w, m: transform(w, m))
    return _library.op(backend, "winograd_conv2d_fused")(
        input, weight, u, as_f32(scale), as_f32(shift), residual, list(g.padding), tile, relu,
        *cuda_split_tf32_args(backend, input.dtype))


#: Why the Triton F(4x4) kernel does not run on GPUs. Compiled for sm_90 (tools/
#: triton_resources.py, no GPU needed), its fp16 variant keeps a 17 KB per-thread stack frame in
#: local memory: the [64 points (36 padded to a power of two), 16, 16] batched dot is lowered to
#: per-thread arrays that do not fit registers (275 ms per call on an H200 VGG-16 layer, against
#: 6 ms for our CUDA kernel); its fp32 variant needs 344 KB of shared memory where sm_90 has
#: 227 KB. Smaller tiles go below tl.dot's minimum of 16. It stays available under the Triton
#: interpreter, where it checks the formulation's numerics.
TRITON_4X4_ON_GPU = ("the Triton Winograd F(4x4) kernel does not fit a GPU (a 64-point fp32 "
                     "accumulator per program spills registers, and fp32 operand tiles exceed "
                     "shared memory); use backend='cuda' or algo='winograd_2x2'")


def _kernels_supports(backend: str):
    def supports(call: Call) -> str:
        if not _library.has_op(backend, "winograd_conv2d_fused"):
            return (f"this build of the {backend} backend has no Winograd kernels "
                    f"(rebuild the extension)")
        if (backend == "triton" and call.device.type == "cuda"
                and call.extra.get("algo") == "winograd_4x4"):
            return TRITON_4X4_ON_GPU
        return ""
    return supports


for _backend in ("cuda", "triton"):
    register(OP, _backend, _kernels_supports(_backend))(
        lambda *a, _b=_backend: _winograd_kernels(_b, *a))
