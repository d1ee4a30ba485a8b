"""Benchmark rows for whole networks (the model zoo): every registered network at batch 1
and 64, fp16 channels_last and fp32 NCHW, inference; and one training step (forward +
backward, no optimizer update) at batch 64 in fp16 channels_last.

Baseline ("cudnn" row, and what torch.compile compiles): the torchvision/timm twin loaded with
the same weights where one exists, else our network with every layer on the ``torch``
backend. Ours: our network with each layer on the requested backend where that backend can run
the layer, ``auto`` elsewhere (:func:`convkernels.models._backend.prefer_backend`); one copy
per backend. Training rows: BN in batch-statistics mode, dropout off in both (so outputs are
comparable), gradients w.r.t. the input and every parameter (the input's is what the runner
checks). Multi-output training heads (aux classifiers) are reduced to the main logits.

FLOPs: forward, multiply-add = 2 (torch's FLOP counter on the meta device, x N; a training
step is counted as its forward FLOPs). min_bytes: parameters once + input + output (x3 for
a training step: weights read twice and gradients written).
"""

from __future__ import annotations

import copy
import functools

from .opbench import OpCase, Workload

TARGET_1_15X = ("resnet50", "vgg16", "alexnet", "googlenet")   # >= 1.15x eager, fp16 b64
TRAIN_TARGET = ("resnet50", "vgg16")                          # training step >= 1.0x
INFERENCE = ((1, "fp16", "channels_last"), (64, "fp16", "channels_last"),
             (1, "fp32", "nchw"), (64, "fp32", "nchw"))


def _networks() -> list[str]:
    from convkernels import models
    return models.list_models()


@functools.lru_cache(maxsize=None)
def _forward_flops(name: str) -> float:
    from convkernels.models import summary
    return summary([name])[0].gflops * 1e9


def _logits(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def _no_dropout(model):
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return model


def build(case: OpCase, device: str) -> Workload:
    import torch

    from convkernels import models
    from convkernels.models._backend import prefer_backend

    name, training = case.network, case.mode == "fwd+bwd"
    info = models.model_info(name)
    dtype, fmt = case.torch_dtype(), case.memory_format()
    torch.manual_seed(0)
    with torch.device(device):
        ours = models.get_model(name)
        if info.reference:
            eager = models.reference_model(name)
            ours.load_state_dict(models.convert_state_dict(name, eager.state_dict()))
        else:
            eager = copy.deepcopy(ours)
            prefer_backend(eager, "torch", device, dtype, training)

    def prepare(m):
        m = m.to(dtype=dtype)
        if len(info.input_size) == 3:
            m = m.to(memory_format=fmt)
        return _no_dropout(m).train(training)

    eager = prepare(eager)
    ours = prepare(ours)
    g = case.generator(device)
    x = torch.randn(case.N, *info.input_size, generator=g, device=device).to(dtype)
    if x.dim() == 4:
        x = x.contiguous(memory_format=fmt)
    x.requires_grad_(training)

    copies = {}

    def ours_for(backend):
        if backend not in copies:
            m = copy.deepcopy(ours)
            prefer_backend(m, backend, device, dtype, training)
            copies[backend] = m
        m = copies[backend]
        return lambda inp: _logits(m(inp))

    n_params = sum(p.numel() for p in ours.parameters())
    out_numel = case.N * (1000 if len(info.input_size) == 3 else 3 * 32 * 32)
    io = (x.numel() + out_numel + n_params) * x.element_size()
    return Workload(inputs=(x,), eager=lambda inp: _logits(eager(inp)), ours=ours_for,
                    flops=_forward_flops(name) * case.N, min_bytes=io * (3 if training else 1))


def cases() -> list[OpCase]:
    from convkernels import models
    out = []
    for name in _networks():
        shape = models.model_info(name).input_size
        params = {"C": shape[0], "H": shape[1], "W": shape[2]} if len(shape) == 3 else \
            {"latent": shape[0]}
        for n, dtype, layout in INFERENCE:
            if n == 64 and dtype == "fp16":
                priority = 0 if name in TARGET_1_15X else 1
            else:
                priority = 2 if n == 64 else 3
            out.append(OpCase(suite="models", op=name, mode="fwd", network=name,
                              layer="network", params={"N": n, **params}, dtype=dtype,
                              layout=layout, priority=priority, build=build))
        out.append(OpCase(suite="models", op=name, mode="fwd+bwd", network=name,
                          layer="network", params={"N": 64, **params}, dtype="fp16",
                          layout="channels_last", priority=0 if name in TRAIN_TARGET else 2,
                          build=build))
    return out
