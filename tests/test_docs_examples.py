"""Every ```python block of README.md and docs/ runs as written.

Each block runs on its own (fresh namespace, its own imports) on the CPU, as a reader runs it:
without ``TRITON_INTERPRET`` (which conftest.py sets for the Triton tests), so
``backend="auto"`` picks the torch backend. A block that cannot run without a GPU starts with
the line ``# needs a CUDA GPU`` and is skipped, with that reason, on a machine without one;
every other block must run here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
GPU_MARK = "# needs a CUDA GPU"
OPTIONAL_PACKAGES = {"torchvision", "timm", "triton", "sklearn"}


def _examples() -> list:
    found = []
    for path in DOC_FILES:
        text = path.read_text()
        for m in PYTHON_BLOCK.finditer(text):
            where = f"{path.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}"
            found.append(pytest.param(where, m.group(1), id=where))
    return found


EXAMPLES = _examples()


def test_every_python_fence_is_collected():
    # A fence the pattern misses (indented, unterminated) would silently go untested.
    fences = sum(p.read_text().count("```python") for p in DOC_FILES)
    assert fences == len(EXAMPLES) and len(EXAMPLES) >= 10


@pytest.mark.parametrize("where, code", EXAMPLES)
def test_doc_example_runs(where, code, monkeypatch):
    if code.startswith(GPU_MARK) and not torch.cuda.is_available():
        pytest.skip(f"{where}: marked '{GPU_MARK}' and this machine has none")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)   # read at each backend choice
    torch.manual_seed(0)
    try:
        exec(compile(code, where, "exec"), {"__name__": "__doc_example__"})
    except ModuleNotFoundError as e:
        # The pure-Python install (CPU-only torch) has none of the optional packages the
        # examples use for reference models; anything else missing is a real failure.
        if e.name not in OPTIONAL_PACKAGES:
            raise
        pytest.skip(f"{where}: needs the optional package {e.name!r}, not installed here")


def test_docs_hook_renders_rest_roles_and_literal_markers():
    import importlib.util
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO / "tools/mkdocs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    html = "<p>equal to :func:<code>torch.conv2d</code>, see :mod:<code>m</code>. Example::</p>"
    assert hooks.on_page_content(html) == ("<p>equal to <code>torch.conv2d</code>, see "
                                           "<code>m</code>. Example:</p>")
