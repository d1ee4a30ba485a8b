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

from . import _library  # noqa: E402  (defines the triton_* ops, fake kernels, autograd)
from . import backends, ops  # noqa: E402
from ._info import info  # noqa: E402
from .backends import (  # noqa: E402
    BackendUnavailableError, get_backend, set_backend, use_backend)
from . import nn  # noqa: E402

__version__ = "0.1.0"

__all__ = ["ops", "nn", "backends", "info", "set_backend", "get_backend", "use_backend",
           "BackendUnavailableError", "__version__"]
