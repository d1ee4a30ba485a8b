"""DeepFace-style network (Taigman et al. 2014): on a 152x152x3
aligned face, C1 conv 32@11x11 -> M2 max-pool 3x3/2 -> C3 conv 16@9x9 -> L4, L5, L6 locally
connected (unshared weights) 16@9x9, 16@7x7 stride 2, 16@5x5 -> F7 4096 -> F8 classes
(4030 identities in the paper). ReLU after every layer but the last; dropout on F7.

Spatial sizes: 152 -> 142 -> 71 -> 63 -> 55 -> 25 -> 21. The locally connected layers are
:class:`convkernels.nn.LocallyConnected2d` (untied bias per position), which is where most
parameters live (L4 alone: 55*55*16*16*9*9 weights).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._fused import ConvReLU2d
from ._layers import MaxPool2d
from ._registry import register


class DeepFace(nn.Module):
    def __init__(self, num_classes: int = 4030, dropout: float = 0.5,
                 backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        self.c1 = ConvReLU2d(3, 32, 11, **b)                          # 142
        self.m2 = MaxPool2d(3, 2, ceil_mode=True, **b)                # 71
        self.c3 = ConvReLU2d(32, 16, 9, **b)                          # 63
        self.l4 = ck_nn.LocallyConnected2d(16, 16, 63, 9, **b)        # 55
        self.l5 = ck_nn.LocallyConnected2d(16, 16, 55, 7, stride=2, **b)  # 25
        self.l6 = ck_nn.LocallyConnected2d(16, 16, 25, 5, **b)        # 21
        self.f7 = nn.Linear(16 * 21 * 21, 4096)
        self.dropout = nn.Dropout(dropout)
        self.f8 = nn.Linear(4096, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.c3(self.m2(self.c1(x)))
        x = torch.relu(self.l6(torch.relu(self.l5(torch.relu(self.l4(x))))))
        x = torch.relu(self.f7(torch.flatten(x, 1)))
        return self.f8(self.dropout(x))


@register("deepface", input_size=(3, 152, 152))
def deepface(*, num_classes: int = 4030, dropout: float = 0.5,
             backend: Optional[str] = None) -> DeepFace:
    """DeepFace-style net with three locally connected layers (152x152 input only)."""
    return DeepFace(num_classes, dropout, backend)
