"""Training smoke tests on real data that ships with scikit-learn: the 8x8 handwritten digits
(1797 images), bilinearly resized to the network's input (32x32 for LeNet-5, 28x28 for
Nielsen's MNIST nets), 1437 for training and 360 held out. Forward and backward run through our
ops (Subsampling2d, PartialConv2d, ConvReLU2d...). The accuracy floors are below what these
runs reach (LeNet-5 ~98-99%) but far above chance (10%): a broken forward or gradient fails.

Nielsen's MNIST accuracies (98.78%..99.60%) were on 60k 28x28 images; 1437 upscaled 8x8
images cannot reach them, so the floor here is 95% for those nets.
"""

import pytest
import torch
import torch.nn.functional as F

from convkernels import models
from convkernels.models.mnist import SEED_ACCURACY

sklearn_datasets = pytest.importorskip("sklearn.datasets")

N_TRAIN = 1437


@pytest.fixture(scope="module")
def digits():
    d = sklearn_datasets.load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm], y[perm]


@pytest.fixture
def one_thread():
    # tiny convs: threads cost more than they give (and CI has 2 cores)
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def train_and_evaluate(name, digits, epochs, lr, seed=0, **kwargs) -> float:
    torch.manual_seed(seed)
    x, y = digits
    size = models.model_info(name).input_size[-1]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    # backend='torch': our ops on their torch implementation (under TRITON_INTERPRET=1 'auto'
    # would pick the Triton interpreter, far too slow to train with)
    model = models.get_model(name, backend="torch", **kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-N_TRAIN // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(N_TRAIN).split(32):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        return (model(x[N_TRAIN:]).argmax(1) == y[N_TRAIN:]).float().mean().item()


@pytest.mark.slow
def test_lenet5_paper_reaches_97_percent(digits, one_thread):
    acc = train_and_evaluate("lenet5", digits, epochs=20, lr=5e-3)
    assert acc >= 0.97, acc


@pytest.mark.slow
def test_lenet5_modern_reaches_97_percent(digits, one_thread):
    acc = train_and_evaluate("lenet5_modern", digits, epochs=12, lr=3e-3)
    assert acc >= 0.97, acc


# the sigmoid nets (Nielsen's first two) need a larger step and more epochs than the ReLU ones
RECIPES = {"mnist_conv1": (12, 6e-3), "mnist_conv2": (12, 6e-3)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEED_ACCURACY))
def test_seed_mnist_nets_learn(name, digits, one_thread):
    epochs, lr = RECIPES.get(name, (8, 2e-3))
    acc = train_and_evaluate(name, digits, epochs=epochs, lr=lr)
    assert acc >= 0.95, (acc, SEED_ACCURACY[name])
