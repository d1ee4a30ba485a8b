"""convkernels: fast convolution-network operators for NVIDIA GPUs.

Hand-written CUDA kernels and Triton variants of the operators classic conv nets are made
of, behind ``torch.nn.functional``-style functions (:mod:`convkernels.ops`) and
``torch.nn``-style modules (:mod:`convkernels.nn`).

    >>> import convkernels
    >>> convkernels.info()            # what is built and which backend each op would use
"""

from __future__ import annotations

from . import _extension

_extension.load()  # registers torch.ops.convkernels.cuda_* when the extension is built

# Imported for their side effects too: each family's ops/<family>_primitives.py, imported by
# ops, declares its triton_* ops and registers the fake kernels and backward formulas of its
# primitives.
from . import algo, backends, nn, ops  # noqa: E402, F401
from ._convert import ConvertReport, convert  # noqa: E402
from ._info import info  # noqa: E402
from .algo import explain  # noqa: E402
from .backends import BackendUnavailableError, get_backend, set_backend, use_backend  # noqa: E402
from .precision import fp32_precision, get_fp32_precision, set_fp32_precision  # noqa: E402

__version__ = "0.1.0"

__all__ = ["ops", "nn", "backends", "info", "explain", "algo", "convert", "ConvertReport",
           "models", "set_backend", "get_backend", "use_backend", "BackendUnavailableError",
           "set_fp32_precision", "get_fp32_precision", "fp32_precision", "__version__"]


def __getattr__(name: str):
    # The model zoo is imported on first use (convkernels.models.get_model(...)): building
    # its registry is not worth paying on every `import convkernels`.
    if name == "models":
        import importlib
        return importlib.import_module(".models", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
