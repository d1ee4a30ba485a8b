"""algo="auto" and backend="auto" for convolutions: what the committed GPU reports decide
(convkernels/algo.py, convkernels/_measured.py), and the numerics gate on top of them."""

import json

import pytest
import torch
import torch.nn.functional as F

import convkernels
from convkernels import algo as ck_algo
from convkernels import ops
from harness import assert_within_rule, requires_triton

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _ref64(x, w, padding=1):
    return F.conv2d(x.double(), w.double(), padding=padding)


def test_auto_on_cuda_tensors_is_cudnn_while_nothing_is_measured():
    choice = convkernels.explain("conv2d", (64, 256, 56, 56), (256, 256, 3, 3), padding=1,
                                 dtype=torch.float16, device="cuda")
    assert (choice.backend, choice.algo) == ("torch", "cudnn")
    assert "no committed GPU report measured it faster" in choice.reason


@pytest.mark.parametrize("backend", ["triton", "cuda"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_auto_without_a_measurement_never_picks_winograd(backend, dtype, monkeypatch):
    """An explicit kernel backend with algo='auto' and no measurement runs direct: on the H200
    an unmeasured F(2x2) choice was 10-20x slower than our own direct kernel."""
    from convkernels.bench.shapes import NETWORKS
    monkeypatch.setattr(ck_algo.backends, "select", lambda call, requested=None:
                        ck_algo.backends.Selection(
                            ck_algo.backends.implementations("conv2d")[backend], backend, {}))
    for s in NETWORKS["vgg16"] + NETWORKS["resnet50"]:
        x = torch.empty(64, s.C, s.H, s.W, device="meta", dtype=dtype)
        g, _ = convkernels._checks.check_conv2d("conv2d", x, torch.empty(
            s.K, s.C, s.R, s.S, device="meta", dtype=dtype), None, s.stride, s.padding, 1, 1)
        choice = ck_algo.choose(g, dtype, torch.device("cuda"), True, backend)
        assert (choice.backend, choice.algo, choice.measured) == (backend, "direct", False)
        assert "no report measured" in choice.reason


@pytest.fixture
def fresh_dispatch_table(monkeypatch):
    """Tests that load their own table: the committed one is reloaded afterwards, even when
    the test fails half-way."""
    yield
    monkeypatch.undo()   # CONVKERNELS_DISPATCH_TABLE back first
    ck_algo.reload_table()


@requires_triton()
def test_auto_uses_measurements_and_the_numerics_gate(tmp_path, monkeypatch,
                                                       fresh_dispatch_table):
    entry = {"device": None, "dtype": "fp16", "layout": "channels_last", "backend": "triton",
             "N": 64, "C": 64, "K": 64, "H": 16, "W": 16, "padding": 1,
             "ms": {"winograd_4x4": 0.5, "cudnn": 0.7, "winograd_2x2": 0.9, "direct": 1.2}}
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"entries": [entry]}))
    monkeypatch.setenv("CONVKERNELS_DISPATCH_TABLE", str(table))
    ck_algo.reload_table()
    choice = convkernels.explain("conv2d", (8, 64, 16, 16), (64, 64, 3, 3), padding=1,
                                 dtype=torch.float16, device="cpu", channels_last=True,
                                 backend="triton")
    # 4x4 is fastest but fails the tolerance rule: the fastest allowed is cuDNN (torch).
    assert (choice.backend, choice.algo, choice.measured) == ("torch", "cudnn", True)
    entry["ms"]["cudnn"] = 2.0
    table.write_text(json.dumps({"entries": [entry]}))
    ck_algo.reload_table()
    choice = convkernels.explain("conv2d", (8, 64, 16, 16), (64, 64, 3, 3), padding=1,
                                 dtype=torch.float16, device="cpu", channels_last=True,
                                 backend="triton")
    assert (choice.backend, choice.algo) == ("triton", "winograd_2x2")
    x = torch.randn(1, 64, 16, 16).half().contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3).half() / 24
    if ck_algo.backends.backend_problem("triton", ck_algo.backends.Call(
            "conv2d", x.device, x.dtype)) == "":
        out = ops.conv2d(x, w, padding=1, backend="triton")  # runs the measured choice
        assert_within_rule(out, F.conv2d(x.float(), w.float(), padding=1).half(),
                           _ref64(x, w), what="auto->winograd_2x2")
    monkeypatch.delenv("CONVKERNELS_DISPATCH_TABLE")
    ck_algo.reload_table()


def test_committed_table_is_generated_from_the_committed_reports(tmp_path):
    """Nobody types the dispatch table: rebuilding it from bench/results/*.json reproduces it."""
    import glob
    reports = sorted(glob.glob(str(ck_algo.TABLE_PATH.parents[1] / "bench" / "results" /
                                   "*.json")))
    committed = json.loads(ck_algo.TABLE_PATH.read_text())
    ck_algo.main(["build-table", *reports, "--out", str(tmp_path / "t.json")])
    rebuilt = json.loads((tmp_path / "t.json").read_text())
    assert committed == rebuilt
    assert ck_algo.summary()["measured_entries"] == len(committed["entries"])


@pytest.mark.parametrize("op", ["conv2d", "conv2d_affine", "fused_conv_bn_relu"])
def test_a_cpu_conv_call_selects_its_backend_once(op, monkeypatch):
    """No report measures CPU algorithms, so algo='auto' off a GPU needs no algorithm choice
    (and so no second backend selection inside it): host time per call."""
    import convkernels.ops.conv as conv_ops
    from convkernels import backends
    decisions, inside_choose = [], []

    def counting_choose(op, requested, x, _choose=backends.choose, **kwargs):
        decisions.append(op)
        inside_choose.append(op)
        try:
            return _choose(op, requested, x, **kwargs)
        finally:
            inside_choose.pop()

    def counting_select(call, requested=None, _select=backends.select):
        if not inside_choose:   # a selection of its own, not the one choose() makes
            decisions.append(f"select {call.op}")
        return _select(call, requested)
    monkeypatch.setattr(backends, "select", counting_select)
    monkeypatch.setattr(conv_ops, "choose", counting_choose)
    x, w, v = torch.randn(1, 4, 6, 6), torch.randn(4, 4, 3, 3), torch.rand(4) + 0.5
    with torch.no_grad():
        out = {"conv2d": lambda: ops.conv2d(x, w, v, padding=1),
               "conv2d_affine": lambda: ops.conv2d_affine(x, w, v, v, padding=1),
               "fused_conv_bn_relu": lambda: ops.fused_conv_bn_relu(x, w, v, v, v, v, v,
                                                                    padding=1)}[op]()
    assert decisions == [op]
    assert out.shape == (1, 4, 6, 6)
