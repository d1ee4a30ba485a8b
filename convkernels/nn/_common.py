"""What the modules of several families share."""

from __future__ import annotations

from typing import Optional

import torch

from ..backends import runs_on_torch


class TorchTwin:
    """A module that *is* its torch counterpart (a subclass) plus a ``backend=`` keyword."""

    backend: Optional[str]

    @classmethod
    def from_torch(cls, module: torch.nn.Module, *, backend: Optional[str] = None):
        """The convkernels twin of a torch module (same configuration; no parameters)."""
        new = cls.__new__(cls)
        new.__dict__.update(module.__dict__)
        new.backend = backend
        return new

    def _backend_repr(self) -> str:
        return f", backend={self.backend!r}" if self.backend is not None else ""


def runs_torch_form(backend: Optional[str], input: torch.Tensor, channels: int) -> bool:
    """Whether a module whose torch form takes ``[N, channels, H, W]`` runs that form: the call
    goes to the torch backend and the input has that shape. Any other input takes the op,
    whose checks name what is wrong with it."""
    return input.dim() == 4 and input.shape[1] == channels and runs_on_torch(backend, input)
