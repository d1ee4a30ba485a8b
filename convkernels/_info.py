"""``convkernels.info()``: what is built here and which backend each op would use."""

from __future__ import annotations

import torch

from . import _extension, _measured, backends


def _triton_status() -> tuple[str, str]:
    try:
        import triton
        version = triton.__version__
    except Exception as e:  # noqa: BLE001  (any import failure means "not usable")
        return "", f"not importable ({e.__class__.__name__})"
    from . import triton as ck_triton
    ok, why = ck_triton.is_available()
    return version, "usable" if ok else why


def _choices(device: torch.device) -> dict[str, dict[str, str]]:
    table = {}
    for op in backends.registered_ops():
        call = backends.Call(op, device, torch.float16 if device.type == "cuda" else torch.float32)
        row = {b: (backends.backend_problem(b, call) or "ok")
               for b in backends.implementations(op)}
        try:
            row["auto"] = backends.select(call, "auto").backend
        except backends.BackendUnavailableError as e:
            row["auto"] = f"none ({e})"
        table[op] = row
    return table


class BuildInfo(dict):
    """The dict :func:`info` returns; its repr is the table, so the REPL shows it once."""

    def __repr__(self) -> str:
        return format_info(self)

    __str__ = __repr__

    def _repr_pretty_(self, printer, cycle) -> None:   # IPython / Jupyter
        printer.text(format_info(self))


def info(verbose: bool = False) -> BuildInfo:
    """Describe the build and the backend choices.

    Returns a :class:`BuildInfo`: a plain dict (JSON-serializable, as ``python -m convkernels
    info --json`` prints it) whose repr is the human-readable table. ``verbose=True`` also
    prints the table, for scripts.
    """
    loaded, why = _extension.load()
    triton_version, triton_state = _triton_status()
    result = BuildInfo({
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "extension": _extension.build_info() if loaded else {"loaded": False, "reason": why},
        "triton": {"version": triton_version, "state": triton_state},
        "default_backend": backends.get_backend(),
        "measured_wins": sorted(
            f"{w['op']}/{w['backend']} on {w['gpu']} {w['dtype']} {w['layout']}"
            f"{' +backward' if w['backward'] else ''}"
            for w in _measured.table()["backend_wins"]),
        "cpu_tensors": _choices(torch.device("cpu")),
    })
    # Also without a GPU: says what auto would run on one, and why the rest would not run.
    result["cuda_tensors"] = _choices(torch.device("cuda"))
    from .algo import summary as _algo_summary  # conv2d algo="auto"
    result["conv2d_algo"] = _algo_summary()
    if verbose:
        print(format_info(result))
    return result


def _sm90_conv_note(ext: dict) -> str:
    """The Hopper conv's build state (csrc/kernels/conv/sm90), from the build facts."""
    sm90 = ext.get("sm90_conv")
    if not isinstance(sm90, dict):
        return ""
    if sm90.get("built"):
        return f"; Hopper conv: CUTLASS {sm90.get('cutlass', '?')} for {sm90.get('arch', '?')}"
    return f"; Hopper conv: not built ({sm90.get('reason') or 'no reason recorded'})"


def format_info(d: dict) -> str:
    """The table :func:`info` describes, as text."""
    ext = d["extension"]
    lines = [
        f"convkernels on torch {d['torch']} (CUDA {d['torch_cuda'] or 'none'}), "
        f"GPU: {d['cuda_device'] or 'none'}",
        "CUDA extension: " + (f"built for {', '.join(ext.get('archs', [])) or '?'} against torch "
                              f"{ext.get('torch', '?')}{_sm90_conv_note(ext)}"
                              if ext.get("loaded", True) else f"not loaded: {ext['reason']}"),
        f"Triton: {d['triton']['version'] or 'absent'} ({d['triton']['state']})",
        f"Default backend: {d['default_backend']}; measured faster than PyTorch on a GPU "
        f"(auto may use): {', '.join(d['measured_wins']) or 'nothing yet'}",
    ]
    if "conv2d_algo" in d:
        a = d["conv2d_algo"]
        lines.append(f"conv2d algo='auto': {a['measured_entries']} measured layers in "
                     f"{a['dispatch_table']} (from {len(a['reports'])} report(s)); rule: "
                     f"{a['rule']}. Explain one layer: convkernels.explain(...)")
    for key, title in (("cuda_tensors", "CUDA tensors"), ("cpu_tensors", "CPU tensors")):
        if key not in d:
            continue
        lines.append(f"\nBackends for {title} (auto → chosen; otherwise why a backend can't run):")
        for op, row in d[key].items():
            lines.append(f"  {op:<20} auto → {row['auto']}")
            for b in backends.BACKENDS:
                if b in row:
                    lines.append(f"  {'':<20} {b:<7} {row[b]}")
    return "\n".join(lines)
