"""The MNIST conv nets of Nielsen's *Neural Networks and Deep Learning*, chapter 6
(``network3``), 28x28 input, with the test accuracies reported there (``SEED_ACCURACY``):

* ``mnist_conv1``: conv 20@5x5 + max-pool 2, FC 100, softmax; sigmoid (98.78%)
* ``mnist_conv2``: + conv 40@5x5 + max-pool 2 (99.06%)
* ``mnist_conv2_relu``: the same with ReLU (99.23%; the seed adds L2 and shifted copies of
  the training set, which are training choices, not architecture)
* ``mnist_conv2_relu_fc2``: an extra FC 100 (99.43%)
* ``mnist_conv2_dropout``: two FC 1000 with dropout 0.5 (99.60%)
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .. import nn as ck_nn
from ._fused import ConvReLU2d
from ._layers import MaxPool2d
from ._registry import register

SEED_ACCURACY = {"mnist_conv1": 0.9878, "mnist_conv2": 0.9906, "mnist_conv2_relu": 0.9923,
                 "mnist_conv2_relu_fc2": 0.9943, "mnist_conv2_dropout": 0.9960}


class MnistConvNet(nn.Module):
    def __init__(self, n_convs: int = 2, relu: bool = True, hidden=(100,), dropout: float = 0.0,
                 num_classes: int = 10, backend: Optional[str] = None):
        super().__init__()
        b = {"backend": backend}
        layers: list[nn.Module] = []
        cin, size = 1, 28
        for cout in (20, 40)[:n_convs]:
            layers += ([ConvReLU2d(cin, cout, 5, **b)] if relu
                       else [ck_nn.Conv2d(cin, cout, 5, **b), nn.Sigmoid()])
            layers.append(MaxPool2d(2, **b))
            cin, size = cout, (size - 4) // 2
        self.features = nn.Sequential(*layers)
        fc: list[nn.Module] = []
        n = cin * size * size
        for h in hidden:
            fc += [nn.Dropout(dropout), nn.Linear(n, h), nn.ReLU() if relu else nn.Sigmoid()]
            n = h
        fc += [nn.Dropout(dropout), nn.Linear(n, num_classes)]
        self.classifier = nn.Sequential(*fc)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _mnist(name, **arch):
    @register(name, input_size=(1, 28, 28))
    def build(*, num_classes: int = 10, backend: Optional[str] = None) -> MnistConvNet:
        return MnistConvNet(num_classes=num_classes, backend=backend, **arch)
    build.__name__ = name
    build.__doc__ = f"Nielsen's MNIST net {name} (reported accuracy {SEED_ACCURACY[name]:.2%})."
    return build


mnist_conv1 = _mnist("mnist_conv1", n_convs=1, relu=False)
mnist_conv2 = _mnist("mnist_conv2", n_convs=2, relu=False)
mnist_conv2_relu = _mnist("mnist_conv2_relu", n_convs=2, relu=True)
mnist_conv2_relu_fc2 = _mnist("mnist_conv2_relu_fc2", n_convs=2, relu=True, hidden=(100, 100))
mnist_conv2_dropout = _mnist("mnist_conv2_dropout", n_convs=2, relu=True, hidden=(1000, 1000),
                             dropout=0.5)
