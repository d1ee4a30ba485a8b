"""Test configuration.

Without a GPU, Triton kernels run on the CPU through the interpreter; the variable must be
set before triton is first imported, which is why it is set here, at collection start.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

HAS_CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (no CUDA device on this machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_backend_state():
    """Tests must not leak a process-wide backend choice into each other."""
    import convkernels
    convkernels.set_backend(None)
    yield
    convkernels.set_backend(None)


@pytest.fixture(autouse=True)
def _fp32_means_fp32():
    """float32 comparisons are exact-precision comparisons: cuDNN's default TF32 would let a
    kernel's TF32 error hide behind cuDNN's. TF32 is tested on its own, with the flag set."""
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = saved


def pytest_runtest_logreport(report):
    """``CONVKERNELS_FAILURE_LOG=path``: append each failure's full report to ``path`` the
    moment it arrives (once: on the xdist controller, not in the workers), so a GPU run cut at
    its time limit keeps every failure message seen so far, not only the pass/fail letters."""
    path = os.environ.get("CONVKERNELS_FAILURE_LOG")
    if not path or not report.failed or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    with open(path, "a") as f:
        f.write(f"\n=== FAILED {report.nodeid} ({report.when}, {report.duration:.1f} s)\n")
        f.write(report.longreprtext + "\n")
