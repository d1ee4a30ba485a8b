"""The convkernels command line: ``python -m convkernels COMMAND [options]``.

``bench`` is the main job. With a CUDA GPU it runs the benchmark (the same cases and code as
``pytest bench/``) and writes report.json/.md/.csv. Without one it says so in its first
line and does what it can: a correctness tour of every op on every backend this machine has
(written to tour.json/.md), the layer table of ResNet-50 and VGG-16, the model-zoo table and
the newest committed GPU report. ``python -m convkernels COMMAND --help`` describes each
command. Errors are one line on stderr and a non-zero exit status (``CONVKERNELS_DEBUG=1``
shows the traceback).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# A source checkout has bench/ beside the package; an installed package writes under the cwd.
BENCH_DIR = REPO_ROOT / "bench" if (REPO_ROOT / "bench").is_dir() else Path.cwd() / "bench"
RESULTS_DIR = BENCH_DIR / "results"


class CliError(Exception):
    """A user-facing failure: ``main`` prints the message as one line and exits ``status``
    (2, as argparse does, for input that cannot be used; 1 for a run that found nothing)."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


def _gpu() -> tuple[bool, str]:
    try:
        import torch
    except Exception as e:
        return False, f"torch is not importable ({e})"
    if not torch.cuda.is_available():
        why = ("this torch has no CUDA support" if torch.version.cuda is None
               else "torch sees no CUDA device")
        return False, f"{why} (torch {torch.__version__})"
    return True, torch.cuda.get_device_name(0)


# ---- info --------------------------------------------------------------------------------

def cmd_info(args) -> int:
    import convkernels
    info = convkernels.info()
    print(json.dumps(info, indent=2, default=str) if args.json else info)
    return 0


# ---- bench -------------------------------------------------------------------------------

def _suites() -> list[str]:
    from convkernels.bench import opbench
    return ["conv_ops", *sorted(opbench.family_modules())]


def _cases(args):
    """The conv suite (filtered by --ops/--network/--batch/--dtype/--layout) and the op-family
    and network suites (their own shapes; --quick keeps priority 0), by priority, --only'd."""
    from convkernels.bench import opbench, suite
    suites = args.suite or _suites()
    unknown = sorted(set(suites) - set(_suites()))
    if unknown:
        raise SystemExit(f"bench: unknown suite(s) {unknown}; available: {_suites()}")
    cases = []
    if "conv_ops" in suites:
        cases += suite.build_cases(ops=args.ops, networks=args.network, batches=args.batch,
                                   dtypes=args.dtype, layouts=args.layout,
                                   tf32_set=not args.no_tf32, train=not args.no_train,
                                   quick=args.quick)
    for name, module in opbench.family_modules().items():
        if name in suites:
            cases += [c for c in module.cases() if not args.quick or c.priority == 0]
    cases.sort(key=lambda c: c.priority)
    return suite.select(cases, args.only)


def _bench_gpu(args, gpu_name: str) -> int:
    from convkernels.bench import device, session
    cases = _cases(args)
    path = Path(args.out) / "report.json"
    env = device.capture()
    if args.resume:
        done = session.finished_cases(path, env)
        cases = [c for c in cases if session.case_key(c) not in done]
    print(f"GPU: {gpu_name}. {len(cases)} cases; writing {path} (.md, .csv)", flush=True)
    budget = "default" if args.budget is None else (args.budget or None)   # 0 = unlimited
    ctx = session.make_context(quick=args.quick, log=lambda s: print(s, flush=True),
                               budget_s=budget)
    ctx.env = env
    selection = "cli: " + " ".join(sys.argv[1:])
    rep, _ = session.run_cases(cases, ctx, path, selection)
    from convkernels.bench.render import render_headline
    print(render_headline(rep, title="This run's report"))
    errors = [r for r in rep["rows"] if r["status"] == "error"]
    if errors:
        print(f"{len(errors)} error rows (wrong results or crashes): see the report")
    return 1 if errors else 0


def _bench_no_gpu(args, why: str) -> int:
    out = Path(args.out)
    tour_files = (out / "tour.json", out / "tour.md")
    for stale in tour_files:   # so that "Written:" below lists only this run's files
        stale.unlink(missing_ok=True)
    print(f"No CUDA GPU here ({why}): nothing can be timed, so no report.json/.md/.csv is "
          f"written; running the correctness tour (written to {out}/tour.json and tour.md), "
          "the layer table and the latest committed GPU report instead.", flush=True)
    print("\n## 1. Correctness tour (small shapes vs a float64 reference)\n", flush=True)
    rc = cmd_tour(argparse.Namespace(device="cpu", dtype=args.dtype, strict=False, out=out))
    if rc != 0:
        print(f"(the correctness tour exited with status {rc})")
    print("\n## 2. Layer table\n", flush=True)
    from convkernels.bench.cputour import layer_table
    layer_table(batch=args.batch[0], dtype=args.dtype[0])
    print("\n## 3. Model zoo (parameters and FLOPs at each network's input size)\n",
          flush=True)
    from convkernels.models import format_summary
    print(format_summary())
    print("\n## 4. Latest committed GPU report\n")
    from convkernels.bench.render import render_latest
    print(render_latest(args.results))
    written = [p for p in tour_files if p.exists()]
    print("\nWritten: " + (", ".join(map(str, written)) if written else
                            "nothing (the tour did not finish)")
          + ". No timing report: that needs a CUDA GPU (`make gpu-check`).")
    return 0


def _first_paragraph(docstring: str) -> str:
    """A module docstring's first paragraph on one line, without reST markup."""
    return " ".join(docstring.strip().split("\n\n")[0].replace("``", "").split())


def list_suites() -> list[str]:
    """``bench --list-suites``: each suite's case count and its description, wrapped whole."""
    from convkernels.bench import opbench, suite
    rows = [("conv_ops", len(suite.build_cases(quick=False)), "conv2d and "
             "fused_conv_bn_relu (eval and train) on every distinct conv layer of ResNet-50 "
             "and VGG-16, batch 64 and 32, fp16 and fp32, channels_last and NCHW.")]
    rows += [(name, len(module.cases()), _first_paragraph(module.__doc__ or ""))
             for name, module in sorted(opbench.family_modules().items())]
    lines = []
    for name, count, about in rows:
        lines.append(f"{name} ({count} cases)")
        lines += textwrap.wrap(about, width=92, initial_indent="    ",
                               subsequent_indent="    ")
    return lines


def cmd_bench(args) -> int:
    if args.list_suites:
        print("\n".join(list_suites()))
        return 0
    ok, what = _gpu()
    return _bench_gpu(args, what) if ok else _bench_no_gpu(args, what)


def _tour_in_interpreter(args) -> int:
    """Triton decides at import time whether to interpret, and this process has imported it:
    rerun the tour in a child with TRITON_INTERPRET=1, as ``make bench`` does."""
    cmd = [sys.executable, "-m", "convkernels", "tour", "--device", "cpu", "--dtype",
           *args.dtype, *(["--strict"] if args.strict else []),
           *(["--out", str(args.out)] if args.out else [])]
    return subprocess.run(cmd, env=dict(os.environ, TRITON_INTERPRET="1")).returncode


def _write_tour(out: Path, device: str, conv_rows: list, op_rows: list, text: list) -> None:
    import torch
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "device": device, "torch": torch.__version__,
            "triton_interpret": os.environ.get("TRITON_INTERPRET") == "1"}
    (out / "tour.json").write_text(json.dumps(
        {"meta": meta, "conv": conv_rows, "ops": op_rows}, indent=1, default=str))
    (out / "tour.md").write_text(
        f"# Correctness tour ({device}, torch {meta['torch']}, {meta['date_utc']})\n\n"
        "Error against a float64 reference; pass = at most 2x PyTorch's own error in the same "
        "dtype plus a small floor. No speed is measured here.\n\n```\n" + "\n".join(text)
        + "\n```\n")


def cmd_tour(args) -> int:
    """conv2d / fused_conv_bn_relu (eval and train), then one case of every other op."""
    ok, why = _gpu()
    if args.device == "cuda" and not ok:
        print(f"No CUDA GPU here ({why}): touring on the CPU.", flush=True)
    device = "cuda" if ok and args.device == "cuda" else "cpu"
    if device == "cpu" and "TRITON_INTERPRET" not in os.environ:
        return _tour_in_interpreter(args)
    from convkernels.bench.cputour import correctness_tour
    from convkernels.bench.optour import op_tour
    text: list[str] = []

    def log(line: str) -> None:
        print(line, flush=True)
        text.append(line)

    conv_rows = correctness_tour(device=device, dtypes=tuple(args.dtype), log=log)
    log("\nEvery other op family (forward, one awkward case each):\n")
    op_rows = op_tour(device=device, dtypes=tuple(args.dtype), log=log)
    if args.out:
        _write_tour(Path(args.out), device, conv_rows, op_rows, text)
        print(f"\nwrote {Path(args.out) / 'tour.json'} and {Path(args.out) / 'tour.md'}")
    failed = any(r["status"] in ("FAIL", "error") for r in conv_rows + op_rows)
    return 1 if failed and args.strict else 0


def cmd_layers(args) -> int:
    from convkernels.bench.cputour import layer_table
    layer_table(batch=args.batch, dtype=args.dtype)
    return 0


# ---- overhead ----------------------------------------------------------------------------

def cmd_overhead(args) -> int:
    from convkernels.bench import overhead
    if args.repeats < 3:
        raise CliError(f"--repeats must be at least 3 (a median and quartiles), got {args.repeats}")
    if args.repeat_ms <= 0:
        raise CliError(f"--repeat-ms must be positive, got {args.repeat_ms}")
    cases = overhead.select_cases(args.only)
    if not cases:
        names = ", ".join(c.name for c in overhead.cases())
        raise CliError(f"--only {' '.join(args.only)} matches no case; cases: {names}")
    if args.json:
        result = overhead.run(cases, args.repeats, args.repeat_ms)
        print(json.dumps(result, indent=1))
    else:
        print("Host time per call on the CPU (torch backend, 1 thread, no_grad, tiny tensors),\n"
              "in CPU time of the calling thread (time spent waiting for a core is not counted):\n"
              "median over repeats; spread: interquartile range / median, the larger side.\n")
        print(overhead.render_header(), flush=True)
        result = overhead.run(cases, args.repeats, args.repeat_ms,
                              log=lambda line: print(line, flush=True))
        print("\n" + overhead.render_verdict(result["rows"]))
    missed = any(r["status"] == "FAIL" for r in result["rows"])
    return 1 if missed and args.check else 0


# ---- reports -----------------------------------------------------------------------------

def cmd_report(args) -> int:
    from convkernels.bench import report
    from convkernels.bench.render import render_markdown, results_name
    try:
        rep = report.load(args.path)
    except FileNotFoundError:
        raise CliError(f"no such file: {args.path}") from None
    except json.JSONDecodeError as e:
        raise CliError(f"{args.path} is not JSON ({e.msg} at line {e.lineno} column "
                       f"{e.colno}); expected a bench report.json") from None
    except ValueError as e:   # JSON, but not a bench report
        raise CliError(str(e)) from None
    out = Path(args.out) if args.out else Path(args.path).parent
    stem = Path(args.path).stem
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(render_markdown(rep))
    (out / f"{stem}.csv").write_text(report.to_csv(rep))
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.csv')}")
    from convkernels.bench import roofline
    png = roofline.plot_roofline(rep, out / "roofline.png")
    print(f"wrote {png}" if png else f"skipped roofline.png: {roofline.matplotlib_missing()}")
    print(f"to commit it as evidence: cp {args.path} bench/results/{results_name(rep['meta'])}")
    return 0


def cmd_latest(args) -> int:
    from convkernels.bench.render import render_latest
    print(render_latest(args.results))
    return 0


def cmd_summary(args) -> int:
    from convkernels.bench.gpusummary import steps_for, write_summary
    folder = Path(args.dir)
    if not folder.is_dir():
        raise CliError(f"no such folder: {folder}")
    path = write_summary(folder, args.steps)
    print(f"wrote {path}")
    if not steps_for(folder, args.steps):
        raise CliError(f"no step results in {folder} (no log with a '## convkernels-step' "
                       "line, no --steps): the summary says nothing ran", status=1)
    return 0


# ---- parser ------------------------------------------------------------------------------

# ---- convert-report -----------------------------------------------------------------------

def cmd_convert_report(args) -> int:
    """What convert() would do to a model, and (--check) whether the outputs agree."""
    import torch

    import convkernels
    from convkernels._convert.specs import build_model
    try:
        model = build_model(args.model)
    except (ValueError, TypeError, ImportError, AttributeError, RuntimeError) as e:
        raise CliError(f"cannot build {args.model}: {e}") from None
    converted, report = convkernels.convert(model, backend=args.backend,
                                            include=args.include, exclude=args.exclude,
                                            resize_conv=args.resize_conv)
    if args.json:
        print(json.dumps(report.to_dicts(), indent=1))
    else:
        print(f"convkernels.convert({args.model}): what would change\n")
        print(report)
        if len(report) == 0:
            print("\n" + _why_nothing_to_convert(model, args))
    if args.check:
        x = torch.randn(args.batch, 3, args.size, args.size,
                        generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref, out = model(x), converted(x)
        err = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item()
        same_keys = list(model.state_dict()) == list(converted.state_dict())
        print(f"\ncheck (eval, input {tuple(x.shape)}, backend {args.backend or 'auto'}): "
              f"max |converted - original| / max |original| = {err:.2e}; state_dict keys "
              f"{'identical' if same_keys else 'DIFFER'}")
        return 0 if same_keys and err < 1e-3 else 1
    return 0


def _why_nothing_to_convert(model, args) -> str:
    from collections import Counter
    ours = Counter(type(m).__name__ for m in model.modules()
                   if type(m).__module__.startswith("convkernels.") and not list(m.children()))
    if ours:
        kinds = ", ".join(f"{name} x{n}" for name, n in ours.most_common())
        return (f"Nothing to swap: this model is already built from convkernels layers "
                f"({kinds}), which run on the backend you choose as they are.")
    if args.include or args.exclude:
        return "Nothing to swap: --include/--exclude matched no layer convert() handles."
    return ("Nothing to swap: the model has no layer convert() handles "
            "(see docs/convert.md for the list).")


def _command(sub, name: str, summary: str, description: str, fn):
    """A subcommand whose --help shows ``description`` with its line breaks kept."""
    s = sub.add_parser(name, help=summary, description=textwrap.dedent(description).strip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.set_defaults(fn=fn)
    return s


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m convkernels", description=__doc__.replace("``", ""),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = _command(sub, "info", "build info, versions, which backend each op would use", """
        What is built here (the CUDA extension, Triton), and for every op which backend
        backend="auto" picks for CPU and for CUDA tensors, with the reason each other backend
        cannot run. The same table as convkernels.info() in Python.""", cmd_info)
    s.add_argument("--json", action="store_true",
                   help="print the information as JSON instead of the table")

    s = _command(sub, "bench", "benchmark vs cuDNN and torch.compile (GPU); without a GPU: "
                 "correctness tour, layer table, latest committed report", """
        With a CUDA GPU: time every selected case against eager PyTorch (cuDNN) and
        torch.compile, checking each result first, and write OUT/report.json, .md and .csv.
        Without one: say so, run the correctness tour (written to OUT/tour.json and
        tour.md), print the layer and model-zoo tables and the newest committed GPU report;
        no timing report is written.""", cmd_bench)
    s.add_argument("--suite", nargs="+", metavar="NAME",
                   help="conv_ops and/or op-family / network suites (default: all; see "
                   "--list-suites)")
    s.add_argument("--list-suites", action="store_true",
                   help="print every suite with its case count and description, then exit")
    s.add_argument("--ops", nargs="+", default=["conv2d", "fused_conv_bn_relu"],
                   choices=["conv2d", "fused_conv_bn_relu"],
                   help="conv_ops suite: the ops to time (default: both)")
    s.add_argument("--dtype", nargs="+", default=["fp16", "fp32"], choices=["fp16", "fp32"],
                   help="conv_ops suite and the no-GPU tour: dtypes (default: fp16 fp32)")
    s.add_argument("--layout", nargs="+", default=["channels_last", "nchw"],
                   choices=["channels_last", "nchw"],
                   help="conv_ops suite: memory layouts (default: both)")
    s.add_argument("--batch", nargs="+", type=int, default=[64, 32],
                   help="conv_ops suite: batch sizes (default: 64 32; the no-GPU layer table "
                   "uses the first)")
    s.add_argument("--network", nargs="+", default=["resnet50", "vgg16"],
                   choices=["resnet50", "vgg16"],
                   help="conv_ops suite: networks whose conv layers are timed (default: both)")
    s.add_argument("--only", nargs="+", metavar="SUBSTR",
                   help="keep cases whose id contains every SUBSTR (ids as in pytest bench/)")
    s.add_argument("--no-tf32", action="store_true", help="skip the TF32-on fp32 set")
    s.add_argument("--no-train", action="store_true", help="skip the training subset")
    s.add_argument("--quick", action="store_true",
                   help="ResNet-50, batch 64, fp16, channels_last only; shorter timing")
    s.add_argument("--budget", type=float, default=None,
                   help="suite time budget in s (default 420, env CONVKERNELS_BENCH_BUDGET_S; "
                        "0 = unlimited)")
    s.add_argument("--resume", action="store_true",
                   help="skip cases OUT/report.json already holds (same commit, GPU, software)")
    s.add_argument("--out", metavar="OUT", default=str(BENCH_DIR / "out"),
                   help="output folder (default: bench/out)")
    s.add_argument("--results", default=str(RESULTS_DIR), help=argparse.SUPPRESS)

    s = _command(sub, "tour", "correctness tour: every op on every backend vs float64", """
        Run conv2d and fused_conv_bn_relu (eval and train) on a few small, awkward shapes,
        then one case of every other op, on every backend this machine has, and compare
        each result with a float64 reference (pass: at most 2x PyTorch's own error plus a
        small floor). On a CPU the Triton kernels run under TRITON_INTERPRET=1, set here
        unless you set TRITON_INTERPRET yourself. Correctness only: nothing is timed.""",
                 cmd_tour)
    s.add_argument("--dtype", nargs="+", default=["fp32", "fp16"], choices=["fp16", "fp32"],
                   help="dtypes to check (default: fp32 fp16)")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where the tensors live (default: cpu; cuda falls back to cpu, "
                   "saying so, when there is no GPU)")
    s.add_argument("--strict", action="store_true", help="exit 1 if any backend fails")
    s.add_argument("--out", metavar="DIR",
                   help="also write DIR/tour.json (every result) and DIR/tour.md (the tables)")

    s = _command(sub, "layers", "ResNet-50 / VGG-16 conv layers: FLOPs and auto's choice", """
        Every distinct convolution of ResNet-50 and VGG-16: its shape, how often it occurs,
        its GFLOP at the batch size, and the backend backend="auto" would pick for conv2d and
        fused_conv_bn_relu on a CUDA tensor with this install.""", cmd_layers)
    s.add_argument("--batch", type=int, default=64, help="batch size for the FLOP count "
                   "(default: 64)")
    s.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"],
                   help="dtype auto's choice is made for (default: fp16)")

    s = _command(sub, "overhead", "host time per call of every op and module vs torch (CPU)",
                 """
        Per-call host time on the CPU of every public op (vs its aten equivalent), every
        module in eval (vs its torch.nn equivalent) and a converted torchvision resnet18 at
        batch 1, 16x16 (vs the original): torch backend, tiny tensors, one thread, no_grad,
        so the time is the Python layer's. Targets: op <= aten + 8 us, module <= 1.2x,
        converted resnet18 <= 1.1x. A report: exits 0 whether or not targets are met,
        unless --check. Timings on a loaded machine are noisy: read the spread column.""",
                 cmd_overhead)
    s.add_argument("--only", nargs="+", metavar="SUBSTR",
                   help="keep cases whose name contains any SUBSTR (e.g. conv2d nn.Max)")
    s.add_argument("--repeats", type=int, default=21,
                   help="timed repeats per side; the median is reported (default: 21)")
    s.add_argument("--repeat-ms", type=float, default=4.0,
                   help="length of one repeat's loop in ms (default: 4)")
    s.add_argument("--json", action="store_true", help="print the rows and settings as JSON")
    s.add_argument("--check", action="store_true",
                   help="exit 1 when any case misses its target")

    s = _command(sub, "report", "render a JSON report to Markdown + CSV (+ roofline.png)", """
        Re-render a bench report.json (from `bench` or `pytest bench/`) to STEM.md and
        STEM.csv, draw roofline.png when matplotlib is installed, and print the name to
        commit it under in bench/results/.""", cmd_report)
    s.add_argument("path", help="the report.json to render")
    s.add_argument("--out", help="output folder (default: beside the report)")

    s = _command(sub, "latest", "headline table of the newest committed GPU report", """
        The headline table of the newest report committed under bench/results/, or a line
        saying there is none yet.""", cmd_latest)
    s.add_argument("--results", default=str(RESULTS_DIR),
                   help="folder of committed reports (default: bench/results)")

    s = _command(sub, "summary", "write DIR/SUMMARY.md for `make gpu-report`", """
        Write DIR/SUMMARY.md from the step logs of `make gpu-report OUT=DIR` (each step's
        trailer line), the CUDA tests' JUnit XML, the sanitizer log and report.json. Exits 1
        when DIR holds no step results: a summary of nothing is not a success.""",
                 cmd_summary)
    s.add_argument("dir", help="the OUT folder of `make gpu-report` / the gpu-* steps")
    s.add_argument("--steps", default="", help="name=exitcode:seconds,... in run order "
                   "(default: read from the trailer lines the Makefile steps add to their logs)")

    s = _command(sub, "convert-report", "what convert() would swap in a model "
                 "(torchvision:NAME, timm:NAME, convkernels:NAME, module:factory)", """
        Build a model and show what convkernels.convert() would swap in it (and what it
        would leave, and why), without changing your code. --check also runs the original
        and the converted model on one random input and compares them.""",
                 cmd_convert_report)
    s.add_argument("model", help="torchvision:NAME, timm:NAME, convkernels:NAME (the model "
                   "zoo) or package.module:factory; e.g. torchvision:resnet50")
    s.add_argument("--backend", default=None, choices=["cuda", "triton", "torch", "auto"],
                   help="backend the swapped layers are pinned to (default: auto)")
    s.add_argument("--include", nargs="+", metavar="PATTERN", help="fnmatch module paths")
    s.add_argument("--exclude", nargs="+", metavar="PATTERN", help="fnmatch module paths")
    s.add_argument("--resize-conv", action="store_true",
                   help="also replace ConvTranspose2d by resize-conv (changes the function)")
    s.add_argument("--json", action="store_true", help="the records as JSON")
    s.add_argument("--check", action="store_true",
                   help="also run original and converted on a random input and compare")
    s.add_argument("--size", type=int, default=224, help="--check input size")
    s.add_argument("--batch", type=int, default=1, help="--check batch size")
    return p


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush does not
    raise a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    where = f"python -m convkernels {args.cmd}"
    try:
        return int(args.fn(args) or 0)
    except BrokenPipeError:   # e.g. `info --json | head`: the reader left early
        _silence_stdout()
        print(f"{where}: output pipe closed before all output was written", file=sys.stderr)
        return 141   # 128 + SIGPIPE, as a shell reports it
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:   # noqa: BLE001  (the CLI's contract: one line, never a traceback)
        if os.environ.get("CONVKERNELS_DEBUG") == "1":
            raise
        msg = str(e) if isinstance(e, CliError) else f"{type(e).__name__}: {e}"
        print(f"{where}: error: {' '.join(msg.split())}", file=sys.stderr)
        return e.status if isinstance(e, CliError) else 1
