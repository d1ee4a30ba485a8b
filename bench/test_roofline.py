"""Roofline plot of a report (CPU only): byte model, PNG written, unknown GPU, CLI hook.

The report below is a made-up test fixture (2 backends x 2 ResNet-50 layers, plus a TF32
row, a train row and a skipped row); its numbers are not measurements and only ever reach
tmp_path.
"""

from __future__ import annotations

import struct
from dataclasses import asdict

import pytest

from convkernels import cli
from convkernels.bench import device, report, roofline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
L3X3 = dict(N=64, C=64, H=56, W=56, K=64, R=3, S=3, stride=1, padding=1, dilation=1, groups=1)
L1X1 = dict(N=64, C=256, H=56, W=56, K=64, R=1, S=1, stride=1, padding=0, dilation=1, groups=1)


def _row(layer, shape, backend, tflops, dtype="fp16", tf32=False, mode="eval", status="ok"):
    return report.new_row(suite="conv_ops", op="conv2d", mode=mode, network="resnet50",
                          layer=layer, count=1, shape=shape, dtype=dtype, tf32=tf32,
                          layout="channels_last", backend=backend, status=status,
                          tflops=tflops if status == "ok" else None,
                          **({"median_ms": 0.1, "p20_ms": 0.09, "p80_ms": 0.11}
                             if status == "ok" else {}))


def _report(gpu_name="NVIDIA H100 80GB HBM3"):
    peaks = device.peaks_for(gpu_name)
    meta = {"gpu_name": gpu_name, "git_commit": "0123456789abcdef" * 2 + "01234567",
            "git_dirty": False, "peaks": asdict(peaks) if peaks else None}
    rows = [_row("layer1.0.conv2", L3X3, "cuda", 310.0),
            _row("layer1.0.conv2", L3X3, "cudnn", 250.0),
            _row("layer1.0.conv1", L1X1, "cuda", 95.0),
            _row("layer1.0.conv1", L1X1, "cudnn", 120.0),
            _row("layer1.0.conv2", L3X3, "cuda", 140.0, dtype="fp32", tf32=True),
            _row("layer1.0.conv2", L3X3, "cuda", 200.0, mode="train"),
            _row("layer1.0.conv1", L1X1, "triton", None, status="skipped")]
    return {"schema": report.SCHEMA, "meta": meta, "rows": rows}


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])   # IHDR follows the magic
    assert 400 <= width <= 3000 and 300 <= height <= 3000
    assert 10_000 < len(data) < 2_000_000


def test_intensity_matches_hand_computation():
    shape = dict(N=1, C=64, H=56, W=56, K=64, R=3, S=3, stride=1, padding=1, dilation=1, groups=1)
    row = report.new_row(shape=shape, dtype="fp16", mode="eval")
    # P = Q = 56. FLOPs = 2*1*64*56*56*64*3*3 = 231,211,008.
    # bytes = 2 * (64*56*56 input + 64*64*3*3 weight + 64*56*56 output)
    #       = 2 * (200,704 + 36,864 + 200,704) = 876,544.
    assert roofline.intensity(row) == pytest.approx(231_211_008 / 876_544)
    assert roofline.intensity(dict(row, dtype="fp32")) == pytest.approx(231_211_008 / 1_753_088)
    assert roofline.intensity(dict(row, mode="train")) == roofline.intensity(row)
    # Stride 2, 1x1, groups 2: P = Q = 28; FLOPs 2*1*64*28*28*64*1*1/2 = 3,211,264;
    # elems 200,704 + 64*32 + 50,176 = 252,928.
    s2 = dict(shape, R=1, S=1, stride=2, padding=0, groups=2)
    assert roofline.intensity(dict(row, shape=s2)) == pytest.approx(3_211_264 / (2 * 252_928))
    # No shape: the runner's own FLOPs/bytes ratio, tflops*1e3/gbps.
    assert roofline.intensity(report.new_row(tflops=100.0, gbps=500.0)) == pytest.approx(200.0)


def test_plot_known_gpu(tmp_path):
    pytest.importorskip("matplotlib")
    out = roofline.plot_roofline(_report(), tmp_path / "sub" / "roofline.png")
    assert out == tmp_path / "sub" / "roofline.png"
    _check_png(out)


def test_plot_unknown_gpu_draws_points_only(tmp_path):
    pytest.importorskip("matplotlib")
    rep = _report("Some Future GPU")
    assert rep["meta"]["peaks"] is None
    _check_png(roofline.plot_roofline(rep, tmp_path / "roofline.png"))


def test_plot_without_ok_rows(tmp_path):
    pytest.importorskip("matplotlib")
    rep = _report()
    rep["rows"] = [r for r in rep["rows"] if r["status"] != "ok"]
    _check_png(roofline.plot_roofline(rep, tmp_path / "roofline.png"))


def test_cli_report_writes_roofline(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    src = tmp_path / "report.json"
    report.write(src, _report()["meta"], _report()["rows"], formats=("json",))
    assert cli.main(["report", str(src), "--out", str(tmp_path / "out")]) == 0
    _check_png(tmp_path / "out" / "roofline.png")
    assert "roofline.png" in capsys.readouterr().out


def test_cli_report_says_why_png_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(roofline, "matplotlib_missing", lambda: "matplotlib is not importable")
    src = tmp_path / "report.json"
    report.write(src, _report()["meta"], _report()["rows"], formats=("json",))
    assert cli.main(["report", str(src), "--out", str(tmp_path / "out")]) == 0
    assert not (tmp_path / "out" / "roofline.png").exists()
    assert "skipped roofline.png: matplotlib is not importable" in capsys.readouterr().out
