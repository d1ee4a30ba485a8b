"""Backend selection rules (README, *Backends*) and convkernels.info()."""


import importlib.util
import json

import pytest
import torch

import convkernels
from convkernels import _measured, backends, ops
from convkernels.backends import BackendUnavailableError, Call

CPU = torch.device("cpu")


def _call(op="conv2d", device=CPU, dtype=torch.float32, groups=1):
    return Call(op, torch.device(device), dtype, groups)


def test_explicit_backend_wins_over_everything(monkeypatch):
    monkeypatch.setenv("CONVKERNELS_BACKEND", "triton")
    convkernels.set_backend("cuda")
    with convkernels.use_backend("triton"):
        assert backends.select(_call(), "torch").backend == "torch"


def test_precedence_context_then_global_then_env(monkeypatch):
    monkeypatch.setenv("CONVKERNELS_BACKEND", "torch")
    assert backends.get_backend() == "torch"
    convkernels.set_backend("triton")
    assert backends.get_backend() == "triton"
    with convkernels.use_backend("cuda"):
        assert backends.get_backend() == "cuda"
        with convkernels.use_backend("auto"):
            assert backends.get_backend() == "auto"
        assert backends.get_backend() == "cuda"
    assert backends.get_backend() == "triton"


def test_unknown_backend_names_are_rejected(monkeypatch):
    with pytest.raises(ValueError, match="unknown backend 'cudnn'"):
        convkernels.set_backend("cudnn")
    with pytest.raises(ValueError, match="unknown backend"):
        with convkernels.use_backend("gpu"):
            pass
    x, w = torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3)
    with pytest.raises(ValueError, match="convkernels.conv2d: unknown backend 'CUDA'"):
        ops.conv2d(x, w, backend="CUDA")
    monkeypatch.setenv("CONVKERNELS_BACKEND", "fast")
    with pytest.raises(ValueError, match="CONVKERNELS_BACKEND: unknown backend 'fast'"):
        ops.conv2d(x, w)


def test_explicit_cuda_on_cpu_tensors_names_the_problem():
    x, w = torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3)
    with pytest.raises(BackendUnavailableError, match="backend 'cuda' cannot run this call"):
        ops.conv2d(x, w, backend="cuda")


def test_explicit_triton_without_interpreter_on_cpu(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(BackendUnavailableError, match="TRITON_INTERPRET"):
        backends.select(_call(), "triton")


def test_auto_on_cpu(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert backends.select(_call(), "auto").backend == "torch"
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    from convkernels import triton as ck_triton
    expected = "triton" if ck_triton.is_available()[0] else "torch"
    assert backends.select(_call(), "auto").backend == expected
    # float64 has no kernel: auto falls through to torch, an explicit request raises
    assert backends.select(_call(dtype=torch.float64), "auto").backend == "torch"


def test_auto_on_cuda_runs_pytorch_where_nothing_was_measured(monkeypatch):
    """With no committed report, auto runs PyTorch (cuDNN) on every CUDA tensor."""
    monkeypatch.delenv("CONVKERNELS_ALLOW_UNVERIFIED", raising=False)
    sel = backends.select(_call(device="cuda", dtype=torch.float16), "auto")
    assert sel.backend == "torch"
    assert "no committed GPU report measured it faster" in sel.skipped["cuda"]
    assert "no committed GPU report measured it faster" in sel.skipped["triton"]


def _report(rows, gpu="NVIDIA H200"):
    base = {"suite": "pool", "op": "max_pool2d", "network": "alexnet", "layer": "pool1",
            "dtype": "fp16", "layout": "channels_last", "mode": "fwd", "status": "ok"}
    return {"meta": {"gpu_name": gpu, "git_commit": "abc"},
            "rows": [base | r for r in rows]}


def test_table_keeps_only_keys_where_every_row_beat_cudnn(tmp_path):
    rows = [{"backend": "cuda", "speedup_vs_cudnn": 1.46},
            {"backend": "cuda", "speedup_vs_cudnn": 1.2, "layer": "pool2"},
            {"backend": "triton", "speedup_vs_cudnn": 1.3},
            {"backend": "triton", "speedup_vs_cudnn": 0.35, "layer": "pool2"},
            {"backend": "cuda", "speedup_vs_cudnn": 0.9, "mode": "train"},
            {"backend": "cudnn", "speedup_vs_cudnn": 1.0},
            {"backend": "cuda", "speedup_vs_cudnn": 9.0, "layout": "nchw", "status": "error"}]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_report(rows)))
    wins = _measured.build([str(path)], "")["backend_wins"]
    assert [(w["op"], w["backend"], w["layout"], w["backward"]) for w in wins] == [
        ("max_pool2d", "cuda", "channels_last", False)]
    assert wins[0]["min_speedup_vs_cudnn"] == 1.2 and len(wins[0]["rows"]) == 2


def test_auto_chooses_a_measured_kernel_and_names_the_report_row(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_report([{"backend": "cuda", "speedup_vs_cudnn": 1.46}])))
    table = tmp_path / "table.json"
    table.write_text(json.dumps(_measured.build([str(path)], "")))
    monkeypatch.setenv("CONVKERNELS_DISPATCH_TABLE", str(table))
    monkeypatch.setattr(_measured, "device_name", lambda device: "NVIDIA H200")
    monkeypatch.setattr(backends, "backend_problem", lambda b, call: "")
    try:
        _measured.reload()
        call = _call(device="cuda", dtype=torch.float16)
        call.op, call.layout = "max_pool2d", "channels_last"
        assert backends.select(call, "auto").backend == "cuda"
        assert "pool:max_pool2d[cuda]-fwd-alexnet-pool1-fp16-channels_last 1.46x" in \
            backends.measured_reason(call, "cuda")
        for other in ({"layout": "nchw"}, {"dtype": torch.bfloat16}, {"needs_grad": True}):
            c = _call(device="cuda", dtype=other.get("dtype", torch.float16))
            c.op, c.layout = "max_pool2d", other.get("layout", "channels_last")
            c.needs_grad = other.get("needs_grad", False)
            assert backends.select(c, "auto").backend == "torch", other
        monkeypatch.setattr(_measured, "device_name", lambda device: "NVIDIA H100")
        assert backends.select(call, "auto").backend == "torch"
    finally:
        monkeypatch.delenv("CONVKERNELS_DISPATCH_TABLE")
        _measured.reload()


def test_layout_of_follows_the_channel_stride():
    x = torch.randn(2, 3, 4, 5)
    assert backends.layout_of(x) == "nchw"
    assert backends.layout_of(x.contiguous(memory_format=torch.channels_last)) == "channels_last"
    assert backends.layout_of(torch.randn(2, 1, 4, 5)) == "nchw"


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_grouped_conv_runs_on_the_kernel_backends(monkeypatch):
    """groups > 1 is a kernel configuration like any other (grouped / depthwise kernels)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert backends.select(_call(groups=2), "auto").backend == "triton"
    assert backends.select(_call(device="cuda", groups=2), "torch").backend == "torch"
    x, w = torch.randn(1, 4, 5, 5), torch.randn(4, 2, 3, 3)
    torch.testing.assert_close(ops.conv2d(x, w, groups=2),
                               torch.nn.functional.conv2d(x, w, groups=2))


def test_env_var_is_read_per_call(monkeypatch):
    x, w = torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3)
    monkeypatch.setenv("CONVKERNELS_BACKEND", "cuda")
    with pytest.raises(BackendUnavailableError):
        ops.conv2d(x, w)
    monkeypatch.setenv("CONVKERNELS_BACKEND", "torch")
    ops.conv2d(x, w)


def test_info_reports_build_and_choices(capsys):
    d = convkernels.info()
    assert capsys.readouterr().out == ""   # the REPL shows the repr: printing would double it
    out = repr(d)
    assert str(d) == out and json.loads(json.dumps(d))["torch"] == torch.__version__
    assert d["torch"] == torch.__version__
    assert set(d["cpu_tensors"]) >= {"conv2d", "conv2d_affine", "fused_conv_bn_relu"}
    assert "CUDA extension:" in out and "auto →" in out
    for row in d["cpu_tensors"].values():
        assert row["torch"] == "ok"
    if not convkernels._extension.load()[0]:
        assert "not loaded" in out
    convkernels.info(verbose=True)
    assert capsys.readouterr().out.strip() == out


@pytest.mark.parametrize("facts,says", [
    ({"built": True, "arch": "sm_90a", "cutlass": "4.2.0", "reason": ""},
     "; Hopper conv: CUTLASS 4.2.0 for sm_90a"),
    ({"built": False, "reason": "the CUTLASS headers are missing"},
     "; Hopper conv: not built (the CUTLASS headers are missing)"),
    (None, "")])
def test_info_says_whether_the_hopper_conv_was_built(facts, says):
    from convkernels import _info
    ext = {"archs": ["sm_90"], "torch": torch.__version__}
    if facts is not None:
        ext["sm90_conv"] = facts
    line = _info.format_info({"torch": torch.__version__, "torch_cuda": None,
                              "cuda_device": None, "extension": ext,
                              "triton": {"version": None, "state": "absent"},
                              "default_backend": "auto", "measured_wins": []}).splitlines()[1]
    assert line == f"CUDA extension: built for sm_90 against torch {torch.__version__}{says}"


def test_every_op_has_all_three_backends():
    for op in ("conv2d", "conv2d_affine", "fused_conv_bn_relu"):
        assert set(backends.implementations(op)) == set(backends.BACKENDS)
