"""LeNet-5 (LeCun et al. 1998) as the paper built it, and the modern variant.

``lenet5`` (paper, 32x32 input): C1 conv 6@5x5 (156 params) -> S2 trainable subsampling
(12) -> C3 partially connected conv 16@5x5 (1516, table ``C3_CONNECTIONS``) -> S4 (32) ->
C5 conv 120@5x5 (48120) -> F6 84 (10164) -> output: the paper's Euclidean RBF units
(``output="rbf"``: logit_i = -||f6 - w_i||^2, 840 params) or a linear layer. The squashing
function, as the classic course implementations place it, ends S2 and S4 (C1/C3 feed them
linearly) and follows C5 and F6: ``activation`` (the courses' ``"sigmoid"``, or the paper's
``"scaled_tanh"``, or ``"tanh"``).

``lenet5_modern``: conv 6@5x5 -> ReLU -> max-pool 2 -> conv 16@5x5 (full) -> ReLU ->
max-pool 2 -> FC 120 -> ReLU -> FC 84 -> ReLU -> FC 10.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._fused import ConvReLU2d
from ._layers import MaxPool2d
from ._registry import register

# C3 map o sees S2 maps C3_INPUTS[o] (paper Table I): 6 see 3 adjacent, 6 see 4 adjacent,
# 3 see 4 non-adjacent, 1 sees all six.
C3_INPUTS = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)
C3_CONNECTIONS = tuple(tuple(i in inputs for i in range(6)) for inputs in C3_INPUTS)


class EuclideanRBF(nn.Module):
    """LeNet-5's output layer: ``y_i = -sum_j (x_j - w_ij)^2`` (negated so that larger is
    more likely, i.e. usable as logits)."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        # the paper fixes the centers to +-1 bitmaps of stylized digits; random +-1 here
        self.weight = nn.Parameter(torch.randint(0, 2, (num_classes, in_features)).float() * 2
                                   - 1)

    def forward(self, x: Tensor) -> Tensor:
        return -(x.unsqueeze(1) - self.weight.to(x.dtype)).square().sum(-1)


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, activation: str = "sigmoid",
                 output: str = "rbf", backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        self.act = ck_nn.lenet.ACTIVATIONS[activation]
        self.c1 = ck_nn.Conv2d(1, 6, 5, **b)
        self.s2 = ck_nn.Subsampling2d(6, 2, activation, **b)
        self.c3 = ck_nn.PartialConv2d(C3_CONNECTIONS, 5, **b)
        self.s4 = ck_nn.Subsampling2d(16, 2, activation, **b)
        self.c5 = ck_nn.Conv2d(16, 120, 5, **b)
        self.f6 = nn.Linear(120, 84)
        if output == "rbf":
            self.output = EuclideanRBF(84, num_classes)
        elif output == "linear":
            self.output = nn.Linear(84, num_classes)
        else:
            raise ValueError(f"LeNet5: output must be 'rbf' or 'linear', got {output!r}")

    def forward(self, x: Tensor) -> Tensor:
        x = self.s4(self.c3(self.s2(self.c1(x))))  # S2/S4 apply the squashing
        x = torch.flatten(self.act(self.c5(x)), 1)
        return self.output(self.act(self.f6(x)))


class LeNet5Modern(nn.Module):
    def __init__(self, num_classes: int = 10, backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        self.features = nn.Sequential(ConvReLU2d(1, 6, 5, **b), MaxPool2d(2, **b),
                                      ConvReLU2d(6, 16, 5, **b), MaxPool2d(2, **b))
        self.classifier = nn.Sequential(nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
                                        nn.Linear(120, 84), nn.ReLU(inplace=True),
                                        nn.Linear(84, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register("lenet5", input_size=(1, 32, 32))
def lenet5(*, num_classes: int = 10, activation: str = "sigmoid", output: str = "rbf",
           backend: Optional[str] = None) -> LeNet5:
    """LeNet-5 as in the paper (C3 connection table, trainable S2/S4, RBF output)."""
    return LeNet5(num_classes, activation, output, backend)


@register("lenet5_modern", input_size=(1, 32, 32))
def lenet5_modern(*, num_classes: int = 10, backend: Optional[str] = None) -> LeNet5Modern:
    """LeNet-5 with ReLU, max-pooling, a dense C3 and a linear output."""
    return LeNet5Modern(num_classes, backend)
