"""What the modules of several families share."""

from __future__ import annotations

from typing import Optional

import torch


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
