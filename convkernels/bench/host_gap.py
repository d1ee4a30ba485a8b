"""Host-bound gaps on the GPU: does the Python around a layer keep the GPU busy?

``calls`` back-to-back forwards of one module are timed twice:

* by CUDA events around the whole run: the time the GPU needs to get through them, which is
  the kernels' own time plus every gap in which it waited for the host to launch the next one;
* by the profiler: the sum of the durations of the kernels (and copies) those calls ran.

``gap_ratio = event time / kernel time`` is 1.0 when the host stays ahead of the GPU, and the
time a call adds on top of its kernels is ``(event - kernel) / calls``. The target for the
fused modules at batch-64 ResNet-50 layers is a ratio of at most 1.05
(``tests/test_host_gap.py``, which runs on a GPU only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import torch

from .shapes import RESNET50, ConvShape

GAP_RATIO_TARGET = 1.05


@dataclass(frozen=True)
class HostGap:
    """One measurement; times in microseconds, per call."""

    event_us: float     # CUDA-event time per call
    kernel_us: float    # summed kernel (and copy) durations per call, from the profiler
    kernels: int        # device activities per call

    @property
    def gap_ratio(self) -> float:
        return self.event_us / self.kernel_us if self.kernel_us > 0 else float("inf")

    @property
    def host_us(self) -> float:
        """What a call costs on top of its kernels (0 when the host keeps ahead)."""
        return max(0.0, self.event_us - self.kernel_us)


def device_activity_us(events: Iterable) -> tuple[float, int]:
    """Total duration (µs) and count of the device activities among profiler events: those
    whose ``device_type`` is CUDA (kernels, copies, memsets), each counted once."""
    total, count = 0.0, 0
    for event in events:
        if getattr(event, "device_type", None) != torch.autograd.DeviceType.CUDA:
            continue
        total += event.time_range.elapsed_us()
        count += 1
    return total, count


def measure(run: Callable[[], object], calls: int = 50, warmup: int = 5) -> HostGap:
    """Time ``calls`` back-to-back ``run()`` with CUDA events, then profile as many more."""
    for _ in range(warmup):     # autotuning, fold caches, allocator
        run()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        run()
    end.record()
    torch.cuda.synchronize()
    event_us = start.elapsed_time(end) * 1e3 / calls
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profile:
        for _ in range(calls):
            run()
        torch.cuda.synchronize()
    kernel_us, kernels = device_activity_us(profile.events())
    return HostGap(event_us, kernel_us / calls, round(kernels / calls))


def conv_bn_relu_layer(shape: ConvShape, batch: int, dtype: torch.dtype,
                       backend: Optional[str]) -> tuple[torch.nn.Module, torch.Tensor]:
    """An eval ``ConvBNReLU2d`` for ``shape`` with non-trivial BN statistics, channels_last,
    and its input."""
    from .. import nn
    torch.manual_seed(0)
    module = nn.ConvBNReLU2d(shape.C, shape.K, shape.R, stride=shape.stride,
                             padding=shape.padding, bias=shape.bias, backend=backend)
    with torch.no_grad():
        module.bn.running_mean.uniform_(-0.1, 0.1)
        module.bn.running_var.uniform_(0.5, 1.5)
    module = module.eval().to("cuda", dtype).to(memory_format=torch.channels_last)
    x = torch.randn(batch, shape.C, shape.H, shape.W, device="cuda", dtype=dtype)
    return module, x.contiguous(memory_format=torch.channels_last)


def resnet50_layers(names: Optional[Iterable[str]] = None) -> list[ConvShape]:
    """The ResNet-50 conv shapes, or those named."""
    if names is None:
        return list(RESNET50)
    wanted = set(names)
    return [s for s in RESNET50 if s.name in wanted]
