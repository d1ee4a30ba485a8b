"""The real conv layer shapes of the networks the benchmark times.

Each distinct convolution of torchvision's ResNet-50 and VGG-16 (224x224 input) is one
``ConvShape``; ``count`` says how many times that exact convolution occurs in the network, so
a count-weighted sum of per-layer times is the network's total conv time. The lists are kept
as literals so the benchmark runs without torchvision; ``walk_torchvision`` derives them from
the models with forward hooks, and bench/test_shapes.py asserts the two agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvShape:
    """One 2-D convolution: input [N, C, H, W], weight [K, C/groups, R, S]. Square hyper-params
    (every conv in these nets is square; the walk refuses anything else)."""

    network: str
    name: str          # module path of the first occurrence in the torchvision model
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = False  # whether the torchvision conv has a bias (VGG yes, ResNet no)
    count: int = 1      # occurrences of this exact conv in the network

    @property
    def P(self) -> int:
        return (self.H + 2 * self.padding - self.dilation * (self.R - 1) - 1) // self.stride + 1

    @property
    def Q(self) -> int:
        return (self.W + 2 * self.padding - self.dilation * (self.S - 1) - 1) // self.stride + 1

    def flops(self, N: int) -> int:
        """Multiply-adds counted as 2 FLOPs: 2*N*K*P*Q*C*R*S/groups."""
        return 2 * N * self.K * self.P * self.Q * self.C * self.R * self.S // self.groups

    def min_bytes(self, N: int, elem_size: int) -> int:
        """Compulsory traffic: read input and weight once, write output once."""
        x = N * self.C * self.H * self.W
        w = self.K * (self.C // self.groups) * self.R * self.S
        y = N * self.K * self.P * self.Q
        return (x + w + y) * elem_size

    def key(self) -> tuple:
        """What makes two convolutions the same computation (names and counts aside)."""
        return (self.C, self.H, self.W, self.K, self.R, self.S, self.stride, self.padding,
                self.dilation, self.groups, self.bias)

    def describe(self) -> str:
        return (f"{self.C}x{self.H}x{self.W} -> {self.K}, {self.R}x{self.S}/{self.stride} "
                f"pad {self.padding}" + (f" dil {self.dilation}" if self.dilation != 1 else "")
                + (f" groups {self.groups}" if self.groups != 1 else "")
                + (" +bias" if self.bias else ""))

    def as_dict(self) -> dict:
        return asdict(self)


def _r(name, C, H, K, R, stride, padding, count):
    return ConvShape("resnet50", name, C, H, H, K, R, R, stride, padding, 1, 1, False, count)


def _v(name, C, H, K, count):
    return ConvShape("vgg16", name, C, H, H, K, 3, 3, 1, 1, 1, 1, True, count)


# torchvision.models.resnet50 (v1.5: the stride sits on the 3x3), 53 convs, 23 distinct.
RESNET50: tuple[ConvShape, ...] = (
    _r("conv1", 3, 224, 64, 7, 2, 3, 1),                    # 7x7/2 stem
    _r("layer1.0.conv1", 64, 56, 64, 1, 1, 0, 1),
    _r("layer1.0.conv2", 64, 56, 64, 3, 1, 1, 3),
    _r("layer1.0.conv3", 64, 56, 256, 1, 1, 0, 4),          # also layer1.0.downsample.0
    _r("layer1.1.conv1", 256, 56, 64, 1, 1, 0, 2),
    _r("layer2.0.conv1", 256, 56, 128, 1, 1, 0, 1),
    _r("layer2.0.conv2", 128, 56, 128, 3, 2, 1, 1),         # stride-2 3x3
    _r("layer2.0.conv3", 128, 28, 512, 1, 1, 0, 4),
    _r("layer2.0.downsample.0", 256, 56, 512, 1, 2, 0, 1),  # 1x1/2 projection
    _r("layer2.1.conv1", 512, 28, 128, 1, 1, 0, 3),
    _r("layer2.1.conv2", 128, 28, 128, 3, 1, 1, 3),
    _r("layer3.0.conv1", 512, 28, 256, 1, 1, 0, 1),
    _r("layer3.0.conv2", 256, 28, 256, 3, 2, 1, 1),
    _r("layer3.0.conv3", 256, 14, 1024, 1, 1, 0, 6),
    _r("layer3.0.downsample.0", 512, 28, 1024, 1, 2, 0, 1),
    _r("layer3.1.conv1", 1024, 14, 256, 1, 1, 0, 5),
    _r("layer3.1.conv2", 256, 14, 256, 3, 1, 1, 5),
    _r("layer4.0.conv1", 1024, 14, 512, 1, 1, 0, 1),
    _r("layer4.0.conv2", 512, 14, 512, 3, 2, 1, 1),
    _r("layer4.0.conv3", 512, 7, 2048, 1, 1, 0, 3),
    _r("layer4.0.downsample.0", 1024, 14, 2048, 1, 2, 0, 1),
    _r("layer4.1.conv1", 2048, 7, 512, 1, 1, 0, 2),
    _r("layer4.1.conv2", 512, 7, 512, 3, 1, 1, 2),
)

# torchvision.models.vgg16 (configuration D, no BN): the 13 3x3 convs, 9 distinct.
VGG16: tuple[ConvShape, ...] = (
    _v("features.0", 3, 224, 64, 1),
    _v("features.2", 64, 224, 64, 1),
    _v("features.5", 64, 112, 128, 1),
    _v("features.7", 128, 112, 128, 1),
    _v("features.10", 128, 56, 256, 1),
    _v("features.12", 256, 56, 256, 2),
    _v("features.17", 256, 28, 512, 1),
    _v("features.19", 512, 28, 512, 2),
    _v("features.24", 512, 14, 512, 3),
)

NETWORKS: dict[str, tuple[ConvShape, ...]] = {"resnet50": RESNET50, "vgg16": VGG16}


def get(network: str, name: str) -> ConvShape:
    for s in NETWORKS[network]:
        if s.name == name:
            return s
    raise KeyError(f"{network} has no conv layer named {name!r}")


# --------------------------------------------------------------------------------------------

_TORCHVISION_CTORS = {"resnet50": "resnet50", "vgg16": "vgg16"}


def _square(mod_name: str, what: str, value) -> int:
    a, b = (value, value) if isinstance(value, int) else tuple(value)
    if a != b:
        raise ValueError(f"{mod_name}: non-square {what} {value!r} is not supported by ConvShape")
    return int(a)


def walk_torchvision(network: str, image_size: int = 224) -> list[ConvShape]:
    """Distinct convs of a torchvision model, in first-call order, with occurrence counts.

    Runs the forward pass on the meta device (shapes only, no arithmetic, no weights
    downloaded), so it takes well under a second on any machine.
    """
    import torch
    import torchvision

    ctor = getattr(torchvision.models, _TORCHVISION_CTORS[network])
    with torch.device("meta"):
        model = ctor(weights=None).eval()
    found: dict[tuple, list] = {}

    def hook(mod_name):
        def record(mod, inputs, output):
            x = inputs[0]
            shape = ConvShape(
                network, mod_name, int(x.shape[1]), int(x.shape[2]), int(x.shape[3]),
                int(mod.out_channels), int(mod.kernel_size[0]), int(mod.kernel_size[1]),
                _square(mod_name, "stride", mod.stride), _square(mod_name, "padding", mod.padding),
                _square(mod_name, "dilation", mod.dilation), int(mod.groups),
                mod.bias is not None)
            entry = found.setdefault(shape.key(), [shape, 0])
            entry[1] += 1
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.empty(1, 3, image_size, image_size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    out = []
    for shape, count in found.values():
        d = shape.as_dict()
        d["count"] = count
        out.append(ConvShape(**d))
    return out
