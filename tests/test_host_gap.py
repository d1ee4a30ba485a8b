"""Host-bound gaps (convkernels/bench/host_gap.py): at batch-64 ResNet-50 layers the time a
fused module takes per call on the GPU is within 5% of its kernels' own time.

The measurement needs a GPU; its arithmetic (which profiler events count, the ratio) is
checked here on any machine.
"""

from __future__ import annotations

import copy
import types

import pytest
import torch

import convkernels
from convkernels.bench import host_gap


def _event(device_type, microseconds):
    span = types.SimpleNamespace(elapsed_us=lambda: microseconds)
    return types.SimpleNamespace(device_type=device_type, time_range=span)


def test_only_device_activities_count_as_kernel_time():
    cuda, cpu = torch.autograd.DeviceType.CUDA, torch.autograd.DeviceType.CPU
    events = [_event(cpu, 500.0), _event(cuda, 30.0), _event(cuda, 12.5), _event(cpu, 7.0)]
    assert host_gap.device_activity_us(events) == (42.5, 2)
    assert host_gap.device_activity_us([]) == (0.0, 0)


def test_gap_ratio_and_host_time():
    busy = host_gap.HostGap(event_us=101.0, kernel_us=100.0, kernels=2)
    assert busy.gap_ratio == pytest.approx(1.01) and busy.host_us == pytest.approx(1.0)
    host_bound = host_gap.HostGap(event_us=60.0, kernel_us=20.0, kernels=1)
    assert host_bound.gap_ratio == pytest.approx(3.0) and host_bound.host_us == 40.0
    assert host_gap.HostGap(5.0, 0.0, 0).gap_ratio == float("inf")


def test_the_named_resnet50_layers_exist():
    names = ["layer1.0.conv1", "layer3.1.conv2", "layer4.0.conv3"]
    assert [s.name for s in host_gap.resnet50_layers(names)] == names
    assert len(host_gap.resnet50_layers()) == 23


# ---- on a GPU -----------------------------------------------------------------------------

LAYERS = host_gap.resnet50_layers(["layer1.0.conv1", "layer3.1.conv2", "layer4.0.conv3"])


def _skip_unavailable(backend):
    if backend == "cuda" and not convkernels._extension.load()[0]:
        pytest.skip(convkernels._extension.load()[1])


def _within_target(gap: host_gap.HostGap, what: str):
    assert gap.gap_ratio <= host_gap.GAP_RATIO_TARGET, (
        f"{what}: {gap.event_us:.1f} us per call on the GPU for {gap.kernel_us:.1f} us of "
        f"kernels ({gap.kernels} per call): ratio {gap.gap_ratio:.3f} > "
        f"{host_gap.GAP_RATIO_TARGET}, {gap.host_us:.1f} us of host-bound gap per call")


@pytest.mark.cuda
@pytest.mark.parametrize("backend", [None, "cuda"], ids=["auto", "cuda"])
@pytest.mark.parametrize("shape", LAYERS, ids=lambda s: s.name)
def test_conv_bn_relu_module_keeps_the_gpu_busy(shape, backend):
    _skip_unavailable(backend)
    module, x = host_gap.conv_bn_relu_layer(shape, 64, torch.float16, backend)
    with torch.no_grad():
        gap = host_gap.measure(lambda: module(x))
    _within_target(gap, f"ConvBNReLU2d {shape.describe()}, backend {backend or 'auto'}")


@pytest.mark.cuda
@pytest.mark.parametrize("shape", LAYERS, ids=lambda s: s.name)
def test_converted_conv_bn_relu_keeps_the_gpu_busy(shape):
    module, x = host_gap.conv_bn_relu_layer(shape, 64, torch.float16, None)
    chain = torch.nn.Sequential(copy.deepcopy(module.conv), copy.deepcopy(module.bn),
                                torch.nn.ReLU()).eval()
    converted, _ = convkernels.convert(chain)
    with torch.no_grad():
        gap = host_gap.measure(lambda: converted(x))
    _within_target(gap, f"convert()ed Conv2d -> BatchNorm2d -> ReLU {shape.describe()}")


@pytest.mark.cuda
@pytest.mark.slow   # compiles a whole network (tens of seconds)
def test_converted_model_runs_under_reduce_overhead_compile():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval().cuda().half()
    model = model.to(memory_format=torch.channels_last)
    converted, _ = convkernels.convert(copy.deepcopy(model))
    compiled = torch.compile(converted, mode="reduce-overhead")
    x = torch.randn(8, 3, 64, 64, device="cuda", dtype=torch.float16)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(3):   # warm-up runs, then the CUDA-graph replay
            out = compiled(x)
        torch.testing.assert_close(out.float(), model(x).float(), rtol=2e-2, atol=2e-2)
