"""The command line as a newcomer meets it: complete --help, one-line errors with a non-zero
exit, nothing claimed on nothing, and the CPU tour under the Triton interpreter."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convkernels import cli

REPO = Path(__file__).resolve().parents[1]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_top_level_help_is_the_whole_description(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "python -m convkernels COMMAND [options]" in out
    assert "COMMAND --help" in out   # the description is not cut at its first line


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_and_argument_has_help(name):
    sub = _subcommands()[name]
    assert sub.description, f"{name} has no description"
    undocumented = [a.dest for a in sub._actions
                    if not isinstance(a, argparse._HelpAction) and not a.help]
    assert undocumented == [], f"{name}: no help text for {undocumented}"


def test_list_suites_prints_whole_descriptions_without_tracker_words(capsys):
    assert cli.main(["bench", "--list-suites"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in ("conv_ops", "winograd", "pool", "models"):
        assert any(line.startswith(f"{name} (") and "cases)" in line for line in lines)
    assert "issue" not in out.lower() and "``" not in out
    descriptions = " ".join(line.strip() for line in lines if line.startswith("    "))
    assert "two-tower AlexNet" in descriptions and "forward+backward." in descriptions


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_report_of_a_missing_file_is_one_line(capsys):
    assert cli.main(["report", "/nonexistent/report.json"]) == 2
    assert "no such file: /nonexistent/report.json" in _error_line(capsys)


def test_report_of_a_non_json_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not json\n")
    assert cli.main(["report", str(bad)]) == 2
    assert "is not JSON" in _error_line(capsys)


def test_report_of_json_that_is_not_a_report_is_one_line(tmp_path, capsys):
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    assert cli.main(["report", str(other)]) == 2
    assert "not a convkernels bench report" in _error_line(capsys)


def test_convert_report_of_an_unknown_timm_model_is_one_line(capsys):
    pytest.importorskip("timm")
    assert cli.main(["convert-report", "timm:no_such_model_here"]) == 2
    assert "cannot build timm:no_such_model_here" in _error_line(capsys)


def test_an_unexpected_exception_is_one_line_and_exit_1(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something\nspread over lines")
    monkeypatch.setattr(cli, "cmd_latest", broken)
    assert cli.main(["latest"]) == 1
    assert _error_line(capsys).endswith("error: RuntimeError: something spread over lines")


def test_a_closed_pipe_is_one_line_and_non_zero():
    # `info --json | head -1`: the reader leaves early. Its end is closed before the command
    # starts, so the first write fails whatever the pipe buffer's size (the whole JSON would fit
    # in one and never fail if the reader closed after reading a line).
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.Popen([sys.executable, "-m", "convkernels", "info", "--json"], cwd=REPO,
                            stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "output pipe closed" in err
    assert len(err.strip().splitlines()) == 1, err


def test_summary_of_an_empty_folder_claims_nothing(tmp_path, capsys):
    assert cli.main(["summary", str(tmp_path)]) == 1
    assert "no step results" in _error_line(capsys)
    text = (tmp_path / "SUMMARY.md").read_text()
    assert "All steps passed" not in text and "No steps found" in text


def test_summary_of_a_missing_folder_is_one_line(tmp_path, capsys):
    assert cli.main(["summary", str(tmp_path / "absent")]) == 2
    assert "no such folder" in _error_line(capsys)


def test_convert_report_explains_an_empty_table(capsys):
    assert cli.main(["convert-report", "convkernels:alexnet_original"]) == 0
    out = capsys.readouterr().out
    assert "0 swapped, 0 skipped" in out
    assert "Nothing to swap: this model is already built from convkernels layers" in out


def test_tour_on_cpu_reruns_itself_under_the_triton_interpreter(monkeypatch, tmp_path):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    seen = {}

    def fake_run(cmd, env):
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 0)
    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    assert cli.main(["tour", "--dtype", "fp32", "--strict", "--out", str(tmp_path)]) == 0
    assert seen["env"]["TRITON_INTERPRET"] == "1"
    assert seen["cmd"][1:] == ["-m", "convkernels", "tour", "--device", "cpu", "--dtype",
                               "fp32", "--strict", "--out", str(tmp_path)]


def test_tour_writes_what_it_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("TRITON_INTERPRET", "1")   # set: the tour runs in this process
    rows = {"conv": [{"op": "conv2d", "status": "ok"}], "ops": [{"op": "pool", "status": "ok"}]}
    monkeypatch.setattr("convkernels.bench.cputour.correctness_tour",
                        lambda device, dtypes, log: (log("conv table"), rows["conv"])[1])
    monkeypatch.setattr("convkernels.bench.optour.op_tour",
                        lambda device, dtypes, log: (log("op table"), rows["ops"])[1])
    assert cli.main(["tour", "--dtype", "fp32", "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "tour.json").read_text())
    assert written["conv"] == rows["conv"] and written["ops"] == rows["ops"]
    assert "conv table" in (tmp_path / "tour.md").read_text()


def _no_gpu_bench(monkeypatch, tour):
    monkeypatch.setattr(cli, "_gpu", lambda: (False, "no device (test)"))
    monkeypatch.setattr(cli, "cmd_tour", tour)
    monkeypatch.setattr("convkernels.bench.cputour.layer_table", lambda **kw: None)
    monkeypatch.setattr("convkernels.models.format_summary", lambda: "zoo table")
    monkeypatch.setattr("convkernels.bench.render.render_latest", lambda results: "latest")


def test_bench_without_gpu_lists_the_tour_files_it_wrote(monkeypatch, tmp_path, capsys):
    def tour(args):
        (args.out / "tour.json").write_text("{}")
        (args.out / "tour.md").write_text("# tour")
        return 0
    _no_gpu_bench(monkeypatch, tour)
    assert cli.main(["bench", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("No CUDA GPU here (no device (test))")
    assert "no report.json/.md/.csv is written" in out.splitlines()[0]
    assert f"Written: {tmp_path / 'tour.json'}, {tmp_path / 'tour.md'}." in out


def test_bench_without_gpu_says_plainly_when_nothing_was_written(monkeypatch, tmp_path, capsys):
    (tmp_path / "tour.json").write_text("{}")   # a previous run's: must not be claimed
    _no_gpu_bench(monkeypatch, lambda args: 1)
    assert cli.main(["bench", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Written: nothing (the tour did not finish)" in out
    assert not (tmp_path / "tour.json").exists()
