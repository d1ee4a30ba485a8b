"""Model specs for ``python -m convkernels convert-report``: ``torchvision:resnet50``,
``timm:inception_v4``, ``convkernels:alexnet`` (our reference networks) or
``package.module:factory`` (any importable callable returning a module)."""

from __future__ import annotations

import importlib

import torch


def build_model(spec: str, num_classes: int = 1000) -> torch.nn.Module:
    """The untrained model ``spec`` names, in eval mode (no weights are downloaded)."""
    source, sep, name = spec.partition(":")
    if not sep or not name:
        raise ValueError(f"model spec {spec!r}: expected SOURCE:NAME, e.g. torchvision:resnet50, "
                         "timm:inception_v4, convkernels:alexnet or my_pkg.models:make_net")
    if source == "torchvision":
        import torchvision
        kwargs = {"weights": None, "num_classes": num_classes}
        if name in ("googlenet", "inception_v3"):
            kwargs.update(aux_logits=False, init_weights=False)
        factory = getattr(torchvision.models, name, None)
        if factory is None:
            raise ValueError(f"torchvision.models has no {name!r}")
        return factory(**kwargs).eval()
    if source == "timm":
        import timm
        return timm.create_model(name, pretrained=False, num_classes=num_classes).eval()
    if source == "convkernels":
        from convkernels import models
        return models.get_model(name, num_classes=num_classes).eval()
    factory = getattr(importlib.import_module(source), name)
    model = factory()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()
