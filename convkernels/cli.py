"""Command line: ``python -m convkernels
{info,bench,tour,layers,report,latest,summary,convert-report}``.

``bench`` is the main job. With a CUDA GPU it runs the benchmark (the same cases and code as
``pytest bench/``) and writes report.json/.md/.csv. Without one it says so in its first
line and does what it can: a correctness tour of every op on every backend this machine has,
the layer table of ResNet-50 and VGG-16, and the newest committed GPU report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# A source checkout has bench/ beside the package; an installed package writes under the cwd.
BENCH_DIR = REPO_ROOT / "bench" if (REPO_ROOT / "bench").is_dir() else Path.cwd() / "bench"
RESULTS_DIR = BENCH_DIR / "results"


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
    try:
        import convkernels
        try:
            info = convkernels.info(verbose=False)
        except TypeError:   # an info() without the verbose flag
            info = convkernels.info()
    except Exception as e:
        print(f"convkernels.info() is not available: {type(e).__name__}: {e}")
        ok, what = _gpu()
        print(f"GPU: {what if ok else 'none: ' + what}")
        return 0
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0

    try:   # the package's own formatting when it has one
        from convkernels._info import format_info
        print(format_info(info))
        return 0
    except Exception:
        pass

    def show(d, indent=0):
        for k, v in d.items():
            if isinstance(v, dict):
                print(" " * indent + f"{k}:")
                show(v, indent + 2)
            else:
                print(" " * indent + f"{k}: {v}")
    show(info if isinstance(info, dict) else {"info": info})
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


def _run_tour_subprocess(args) -> None:
    """Triton decides at import time whether to interpret, so the tour runs in a child with
    TRITON_INTERPRET=1 unless the user already set it for this process."""
    cmd = [sys.executable, "-m", "convkernels", "tour", "--dtype", *args.dtype]
    env = dict(os.environ, TRITON_INTERPRET="1")
    rc = subprocess.run(cmd, env=env).returncode
    if rc != 0:
        print(f"(the correctness tour exited with status {rc})")


def _bench_no_gpu(args, why: str) -> int:
    print(f"No CUDA GPU here ({why}): nothing can be timed; running the correctness tour, the "
          "layer table and the latest committed GPU report instead.", flush=True)
    print("\n## 1. Correctness tour (small shapes vs a float64 reference)\n", flush=True)
    if os.environ.get("TRITON_INTERPRET") == "1":
        cmd_tour(argparse.Namespace(device="cpu", dtype=args.dtype, strict=False))
    else:
        _run_tour_subprocess(args)
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
    return 0


def cmd_bench(args) -> int:
    if args.list_suites:
        from convkernels.bench import opbench
        families = opbench.family_modules()
        print("conv_ops: conv2d / fused_conv_bn_relu on ResNet-50 and VGG-16 layers")
        for name, module in sorted(families.items()):
            print(f"{name}: {len(module.cases())} cases ({(module.__doc__ or '').strip()[:70]})")
        return 0
    ok, what = _gpu()
    return _bench_gpu(args, what) if ok else _bench_no_gpu(args, what)


def cmd_tour(args) -> int:
    """conv2d / fused_conv_bn_relu (eval and train), then one case of every other op."""
    from convkernels.bench.cputour import correctness_tour
    from convkernels.bench.optour import op_tour
    ok, _ = _gpu()
    device = "cuda" if ok and args.device == "cuda" else "cpu"
    res = correctness_tour(device=device, dtypes=tuple(args.dtype))
    print("\nEvery other op family (forward, one awkward case each):\n", flush=True)
    res += op_tour(device=device, dtypes=tuple(args.dtype))
    return 1 if any(r["status"] in ("FAIL", "error") for r in res) and args.strict else 0


def cmd_layers(args) -> int:
    from convkernels.bench.cputour import layer_table
    layer_table(batch=args.batch, dtype=args.dtype)
    return 0


# ---- reports -----------------------------------------------------------------------------

def cmd_report(args) -> int:
    from convkernels.bench import report
    from convkernels.bench.render import render_markdown, results_name
    rep = report.load(args.path)
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
    from convkernels.bench.gpusummary import write_summary
    path = write_summary(Path(args.dir), args.steps)
    print(f"wrote {path}")
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
    except (ValueError, TypeError, ImportError, AttributeError) as e:
        print(f"convert-report: {e}", file=sys.stderr)
        return 2
    converted, report = convkernels.convert(model, backend=args.backend,
                                            include=args.include, exclude=args.exclude,
                                            resize_conv=args.resize_conv)
    if args.json:
        print(json.dumps(report.to_dicts(), indent=1))
    else:
        print(f"convkernels.convert({args.model}): what would change\n")
        print(report)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m convkernels", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("info", help="build info, versions, which backend each op would use")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("bench", help="benchmark vs cuDNN and torch.compile (GPU); without a GPU: "
                       "correctness tour, layer table, latest committed report")
    s.add_argument("--suite", nargs="+", metavar="NAME",
                   help="conv_ops and/or op-family / network suites (default: all; "
                   "`python -m convkernels bench --list-suites`)")
    s.add_argument("--list-suites", action="store_true", help="print the suites and exit")
    s.add_argument("--ops", nargs="+", default=["conv2d", "fused_conv_bn_relu"],
                   choices=["conv2d", "fused_conv_bn_relu"])
    s.add_argument("--dtype", nargs="+", default=["fp16", "fp32"], choices=["fp16", "fp32"])
    s.add_argument("--layout", nargs="+", default=["channels_last", "nchw"],
                   choices=["channels_last", "nchw"])
    s.add_argument("--batch", nargs="+", type=int, default=[64, 32])
    s.add_argument("--network", nargs="+", default=["resnet50", "vgg16"],
                   choices=["resnet50", "vgg16"])
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
    s.add_argument("--out", default=str(BENCH_DIR / "out"))
    s.add_argument("--results", default=str(RESULTS_DIR), help=argparse.SUPPRESS)
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("tour", help="correctness tour: every op on every backend vs float64")
    s.add_argument("--dtype", nargs="+", default=["fp32", "fp16"], choices=["fp16", "fp32"])
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.add_argument("--strict", action="store_true", help="exit 1 if any backend fails")
    s.set_defaults(fn=cmd_tour)

    s = sub.add_parser("layers", help="ResNet-50 / VGG-16 conv layers: FLOPs and auto's choice")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    s.set_defaults(fn=cmd_layers)

    s = sub.add_parser("report", help="render a JSON report to Markdown + CSV (+ roofline.png)")
    s.add_argument("path")
    s.add_argument("--out", help="output folder (default: beside the report)")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("latest", help="headline table of the newest committed GPU report")
    s.add_argument("--results", default=str(RESULTS_DIR))
    s.set_defaults(fn=cmd_latest)

    s = sub.add_parser("summary", help="write DIR/SUMMARY.md for `make gpu-report`")
    s.add_argument("dir")
    s.add_argument("--steps", default="", help="name=exitcode:seconds,... in run order "
                   "(default: read from the trailer lines the Makefile steps add to their logs)")
    s.set_defaults(fn=cmd_summary)
    s = sub.add_parser("convert-report", help="what convert() would swap in a model "
                       "(torchvision:NAME, timm:NAME, convkernels:NAME, module:factory)")
    s.add_argument("model", help="e.g. torchvision:resnet50, timm:inception_v4")
    s.add_argument("--backend", default=None, choices=["cuda", "triton", "torch", "auto"])
    s.add_argument("--include", nargs="+", metavar="PATTERN", help="fnmatch module paths")
    s.add_argument("--exclude", nargs="+", metavar="PATTERN", help="fnmatch module paths")
    s.add_argument("--resize-conv", action="store_true",
                   help="also replace ConvTranspose2d by resize-conv (changes the function)")
    s.add_argument("--json", action="store_true", help="the records as JSON")
    s.add_argument("--check", action="store_true",
                   help="also run original and converted on a random input and compare")
    s.add_argument("--size", type=int, default=224, help="--check input size")
    s.add_argument("--batch", type=int, default=1, help="--check batch size")
    s.set_defaults(fn=cmd_convert_report)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)
