"""Autotune configs are filtered by the device's shared memory and registers before they are
tried (no GPU needed: the limits are those of an H200, sm_90, as its Triton driver reports)."""

import pytest

triton = pytest.importorskip("triton")

from convkernels.triton import _common, conv, local_conv, resize_conv  # noqa: E402

SM90_SHARED = 232448  # bytes one program may opt in to on sm_90 (the H200's reported limit)


@pytest.fixture
def sm90(monkeypatch):
    monkeypatch.setattr(_common, "device_shared_memory", lambda index: SM90_SHARED)
    monkeypatch.setattr(_common.torch.cuda, "current_device", lambda: 0)


def _fits(cfg, tile_bytes, acc):
    return _common.config_fits(cfg, smem_bytes=cfg.num_stages * tile_bytes(cfg),
                               acc_elements=acc(cfg), smem_limit=SM90_SHARED)


def test_config_fits_checks_shared_memory_and_accumulator_registers():
    cfg = triton.Config({}, num_warps=4, num_stages=3)
    assert _common.config_fits(cfg, smem_bytes=SM90_SHARED, acc_elements=128 * 128,
                               smem_limit=SM90_SHARED)
    assert not _common.config_fits(cfg, smem_bytes=SM90_SHARED + 1, acc_elements=64,
                                   smem_limit=SM90_SHARED)
    # 128 x 256 fp32 over 128 threads = 256 values per thread: more than the register file
    assert not _common.config_fits(cfg, smem_bytes=0, acc_elements=128 * 256,
                                   smem_limit=SM90_SHARED)


@pytest.mark.parametrize("module,tile_bytes,acc", [
    (conv, lambda c: conv._tile_bytes(c, 4), conv._acc_elements),
    (resize_conv, lambda c: (c.kwargs["BLOCK_M"] + c.kwargs["BLOCK_N"]) * c.kwargs["BLOCK_K"] * 4,
     lambda c: c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"]),
    (local_conv, lambda c: (c.kwargs["BLOCK_N"] + c.kwargs["BLOCK_K"]) * c.kwargs["BLOCK_J"] * 4,
     lambda c: c.kwargs["BLOCK_N"] * c.kwargs["BLOCK_K"]),
], ids=["conv", "resize_conv", "local_conv"])
def test_every_autotuned_kernel_prunes_to_configs_that_fit(sm90, monkeypatch, module,
                                                           tile_bytes, acc):
    configs = module._configs()
    assert all(_fits(c, tile_bytes, acc) for c in _common.fit_configs(configs, tile_bytes, acc))
    # A device with less shared memory than the largest configs need: those are dropped.
    need = sorted(c.num_stages * tile_bytes(c) for c in configs)
    limit = need[len(need) // 2]
    monkeypatch.setattr(_common, "device_shared_memory", lambda index: limit)
    kept = _common.fit_configs(configs, tile_bytes, acc)
    assert kept and all(c.num_stages * tile_bytes(c) <= limit for c in kept)
    assert len(kept) < len(configs)


def test_triton_winograd_4x4_does_not_fit_sm90_as_its_refusal_says():
    """Compiled for sm_90 here (no GPU needed): F(4x4)'s fp32 variant asks for more shared
    memory than sm_90 has, and its fp16 variant keeps ~17 KB per thread in local memory (the
    275 ms per call measured on an H200). If this fails the kernel may fit now: measure it on a
    GPU and lift ops.winograd.TRITON_4X4_ON_GPU."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    if not (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump").exists():
        pytest.skip("this Triton install has no bundled cuobjdump to read its cubins")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")])  # this checkout
    done = subprocess.run([sys.executable, str(repo / "tools" / "triton_resources.py"), "--json"],
                          capture_output=True, text=True, env=env, cwd=repo, timeout=600)
    assert done.returncode == 0, done.stderr
    usage = json.loads(done.stdout)
    fp32, fp16 = usage["winograd_4x4_fp32"], usage["winograd_4x4_fp16"]
    assert fp32["shared_bytes"] > SM90_SHARED, fp32
    assert fp16["stack_bytes"] > 4096, fp16
