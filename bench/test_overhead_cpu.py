"""The host-overhead benchmark (``python -m convkernels overhead``) on the CPU.

Checks what it measures and how it reports, never the timing targets themselves: CI timing
is too noisy to gate on. Every public op and module has a case; each case's two sides
compute the same thing (otherwise the comparison means nothing); the table, the JSON and
``--check``'s exit status follow from the rows.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from convkernels import cli, nn, ops  # noqa: E402
from convkernels.bench import overhead  # noqa: E402

ROW_KEYS = {"name", "kind", "baseline", "ours_us", "torch_us", "diff_us", "ratio", "spread",
            "target", "status"}


def test_every_public_op_and_module_has_a_case():
    assert overhead.uncovered() == []
    names = {n for c in overhead.cases() if c.kind != "model" for n in c.covered()}
    assert {n for n in ops.__all__ if callable(getattr(ops, n))} <= names
    assert {"ConvBNReLU2d", "FusedConv2d", "FoldedBatchNorm2d", "Conv2d"} <= names
    assert len({c.name for c in overhead.cases()}) == len(overhead.cases())
    assert [c.kind for c in overhead.cases()].count("model") == 1


def test_a_new_public_op_without_a_case_is_reported(monkeypatch):
    monkeypatch.setattr(ops, "__all__", [*ops.__all__, "conv3d_someday"], raising=True)
    monkeypatch.setattr(ops, "conv3d_someday", lambda x: x, raising=False)
    assert overhead.uncovered() == ["ops.conv3d_someday"]
    monkeypatch.setattr(nn, "__all__", [*nn.__all__, "Conv3dSomeday"], raising=True)
    monkeypatch.setattr(nn, "Conv3dSomeday", type("Conv3dSomeday", (torch.nn.Module,), {}),
                        raising=False)
    assert overhead.uncovered() == ["ops.conv3d_someday", "nn.Conv3dSomeday"]


def _outputs(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


@pytest.mark.parametrize("case", [c for c in overhead.cases() if c.kind != "model"],
                         ids=lambda c: c.name)
def test_both_sides_of_a_case_compute_the_same_result(case):
    with torch.no_grad():
        ours, theirs = case.build()
        got, want = _outputs(ours()), _outputs(theirs())
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_converted_resnet18_matches_the_original():
    pytest.importorskip("torchvision")
    (case,) = overhead.select_cases(["resnet18"])
    with torch.no_grad():
        ours, theirs = case.build()
        torch.testing.assert_close(ours(), theirs(), rtol=1e-3, atol=1e-4)


def test_a_short_run_gives_well_formed_rows_and_a_table():
    selected = overhead.select_cases(["ops.conv2d", "nn.MaxPool2d"])
    assert {c.name for c in selected} >= {"ops.conv2d", "ops.conv2d_affine", "nn.MaxPool2d"}
    threads = torch.get_num_threads()
    lines = []
    result = overhead.run(selected, repeats=3, repeat_ms=0.2, log=lines.append)
    assert torch.get_num_threads() == threads   # the 1-thread setting is undone
    assert result["meta"]["threads"] == 1 and result["meta"]["repeats"] == 3
    assert [r["name"] for r in result["rows"]] == [c.name for c in selected]
    for row in result["rows"]:
        assert set(row) == ROW_KEYS
        assert row["ours_us"] > 0 and row["torch_us"] > 0 and row["spread"] >= 0
        limit = (row["torch_us"] + overhead.OP_EXTRA_US if row["kind"] == "op"
                 else overhead.MODULE_RATIO * row["torch_us"])
        assert row["status"] == ("PASS" if row["ours_us"] <= limit else "FAIL")
    table = overhead.render(result).splitlines()
    assert table[0].split()[:3] == ["case", "ours", "us"]
    assert lines == table[2:2 + len(selected)]
    assert table[-1].startswith(f"{sum(r['status'] == 'PASS' for r in result['rows'])} of "
                                f"{len(selected)} within target")


def test_targets_follow_the_kind_of_case():
    assert overhead._verdict("op", 20.0, 12.0) == ("<= +8 us", True)
    assert overhead._verdict("op", 20.1, 12.0)[1] is False
    assert overhead._verdict("module", 12.0, 10.0) == ("<= 1.2x", True)
    assert overhead._verdict("module", 12.1, 10.0)[1] is False
    assert overhead._verdict("model", 11.1, 10.0) == ("<= 1.1x", False)


def _rigged_rows(monkeypatch, status):
    def run(selected, repeats, repeat_ms, log=None):
        row = dict(name="ops.conv2d", kind="op", baseline="F.conv2d", ours_us=30.0,
                   torch_us=10.0, diff_us=20.0, ratio=3.0, spread=0.1, target="<= +8 us",
                   status=status)
        if log:
            log(overhead.format_row(row))
        return {"meta": {}, "rows": [row]}
    monkeypatch.setattr(overhead, "run", run)


@pytest.mark.parametrize("status, check, rc", [("FAIL", False, 0), ("FAIL", True, 1),
                                               ("PASS", True, 0)])
def test_exit_status_is_zero_unless_check_finds_a_miss(monkeypatch, capsys, status, check, rc):
    _rigged_rows(monkeypatch, status)
    argv = ["overhead", "--only", "ops.conv2d", *(["--check"] if check else [])]
    assert cli.main(argv) == rc
    out = capsys.readouterr().out
    assert "ops.conv2d" in out and status in out


def test_json_output_is_the_rows(monkeypatch, capsys):
    _rigged_rows(monkeypatch, "PASS")
    assert cli.main(["overhead", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["name"] == "ops.conv2d"


@pytest.mark.parametrize("argv, message", [
    (["--only", "no-such-case"], "matches no case"),
    (["--repeats", "2"], "--repeats must be at least 3"),
    (["--repeat-ms", "0"], "--repeat-ms must be positive"),
])
def test_bad_arguments_are_one_line(capsys, argv, message):
    assert cli.main(["overhead", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
