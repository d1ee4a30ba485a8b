"""The model registry: ``list_models()``, ``get_model(name, **kwargs)`` and, for networks that
torchvision or timm also ship, how to load their weights.

Each builder is registered with ``@register(name, input_size=..., reference=..., key_map=...)``.
``reference`` names the torchvision/timm twin as ``"torchvision:resnet50"`` or
``"timm:inception_v4"`` (with kwargs in ``reference_kwargs``). ``key_map`` is a list of
``(regex, replacement)`` rules, applied in order to every key of the twin's state_dict, that
turn its names into ours. The rules exist because we fold ``conv -> bn (-> relu)`` into one
:class:`convkernels.nn.ConvBNReLU2d` (keys ``<name>.conv.*`` / ``<name>.bn.*``) so the fused
operator runs; they are the whole of the difference, shown next to each builder.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Callable, Optional, Sequence

import torch

__all__ = ["register", "list_models", "get_model", "model_info", "convert_state_dict",
           "reference_model", "ModelInfo"]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., torch.nn.Module]
    input_size: tuple[int, int, int]          # (C, H, W) the network is designed for
    reference: Optional[str] = None           # "torchvision:<fn>" or "timm:<name>"
    reference_kwargs: tuple = ()              # sorted (key, value) pairs
    key_map: tuple[tuple[str, str], ...] = ()  # reference key -> our key, applied in order
    min_size: Optional[int] = None            # smallest H=W the architecture accepts


_MODELS: dict[str, ModelInfo] = {}


def register(name: str, *, input_size: Sequence[int] = (3, 224, 224),
             reference: Optional[str] = None, reference_kwargs: Optional[dict] = None,
             key_map: Sequence[tuple[str, str]] = (), min_size: Optional[int] = None):
    """Decorator adding a model builder ``fn(*, num_classes=..., backend=None, ...)``.

    Every network it builds gets its back-to-back LocalResponseNorm / MaxPool2d pairs
    (AlexNet's conv1/conv2 order, GoogLeNet's pool-then-LRN) fused into one
    ``LRNMaxPool2d`` reading the input once (no parameters move)."""
    def decorate(fn):
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")

        @functools.wraps(fn)
        def build(**kwargs):
            from ..nn import fuse_lrn_max_pool
            model = fn(**kwargs)
            fuse_lrn_max_pool(model, backend=kwargs.get("backend"))
            return model
        _MODELS[name] = ModelInfo(name, build, tuple(input_size), reference,
                                  tuple(sorted((reference_kwargs or {}).items())),
                                  tuple(key_map), min_size)
        return build
    return decorate


def list_models() -> list[str]:
    """Names of every registered network, sorted."""
    return sorted(_MODELS)


def model_info(name: str) -> ModelInfo:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}") from None


def get_model(name: str, **kwargs) -> torch.nn.Module:
    """Build the network ``name`` (randomly initialized); kwargs go to its builder
    (``num_classes``, ``backend``, variant options).

    Example::

        >>> m = convkernels.models.get_model("resnet50", backend="auto").eval()
    """
    return model_info(name).builder(**kwargs)


def convert_state_dict(name: str, state_dict: dict) -> dict:
    """The reference (torchvision/timm) model's ``state_dict`` renamed to our keys."""
    rules = [(re.compile(p), r) for p, r in model_info(name).key_map]
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in rules:
            key = pattern.sub(repl, key)
        out[key] = value
    return out


def reference_model(name: str, **kwargs) -> torch.nn.Module:
    """The torchvision/timm model ``name`` is checked against (random init, no download)."""
    info = model_info(name)
    if info.reference is None:
        raise ValueError(f"model {name!r} has no torchvision/timm reference")
    lib, fn = info.reference.split(":")
    kw = dict(info.reference_kwargs) | kwargs
    if lib == "torchvision":
        import torchvision
        return getattr(torchvision.models, fn)(weights=None, **kw)
    import timm
    return timm.create_model(fn, pretrained=False, **kw)
