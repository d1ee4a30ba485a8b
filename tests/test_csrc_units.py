"""The C++ side is one unit per operator family (docs/architecture.md, "C++ layer").

Read from the sources, so it runs without nvcc, a GPU or a built extension: each family's glue
defines the schemas of the ops it implements (TORCH_LIBRARY_FRAGMENT beside TORCH_LIBRARY_IMPL),
csrc/registration.cpp defines none, kernels include no torch header, and every kernel family has
its emulator driver. With the extension loaded, the registered ``cuda_*`` schemas are exactly the
ones the glue files define.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from convkernels import _extension

CSRC = Path(__file__).resolve().parent.parent / "csrc"
DEF_RE = re.compile(r"m\.def\(\s*((?:\"[^\"]*\"\s*)+)\)")
IMPL_RE = re.compile(r"m\.impl\(\"(\w+)\"")
STRING_RE = re.compile(r"\"([^\"]*)\"")


def _schemas(text: str) -> list[str]:
    return ["".join(STRING_RE.findall(m.group(1))) for m in DEF_RE.finditer(text)]


def _glue_files() -> list[Path]:
    return sorted((CSRC / "ops").glob("*.cpp"))


def _defined_names() -> dict[str, str]:
    """op name -> glue file defining it."""
    names: dict[str, str] = {}
    for path in _glue_files():
        for schema in _schemas(path.read_text()):
            name = schema.split("(")[0]
            assert name not in names, f"{name} is defined in {names[name]} and {path.name}"
            names[name] = path.name
    return names


def test_each_glue_file_defines_the_ops_it_implements():
    for path in _glue_files():
        text = path.read_text()
        defined = {s.split("(")[0] for s in _schemas(text)}
        implemented = set(IMPL_RE.findall(text))
        assert defined == implemented, f"{path.name}: defined {defined}, implemented {implemented}"
        if implemented:
            assert "TORCH_LIBRARY_FRAGMENT(convkernels, m)" in text, path.name


def test_registration_cpp_holds_no_schema():
    text = (CSRC / "registration.cpp").read_text()
    assert not _schemas(text)
    assert "TORCH_LIBRARY(" not in text and "TORCH_LIBRARY_FRAGMENT(" not in text


def test_no_library_declares_the_namespace():
    """Python's custom_op twins and the C++ glue are all fragments: any load order works."""
    for path in [*_glue_files(), CSRC / "registration.cpp"]:
        assert not re.search(r"TORCH_LIBRARY\(\s*convkernels", path.read_text()), path.name


def test_kernels_include_no_torch_header():
    torch_include = re.compile(r"#include\s*[<\"](torch|ATen|c10)/")
    for path in sorted((CSRC / "kernels").rglob("*")):
        if path.is_file():
            assert not torch_include.search(path.read_text()), path.relative_to(CSRC)


def test_every_kernel_family_has_an_emulator_driver():
    families = {p.name for p in (CSRC / "kernels").iterdir() if p.is_dir() and p.name != "common"}
    emulation = CSRC / "tests" / "emulation"
    drivers = {p.stem.removeprefix("run_") for p in emulation.glob("run_*.cpp")}
    assert families == drivers


def test_dtype_switches_go_through_the_dispatch_helper():
    for path in sorted((CSRC / "kernels").rglob("*.cu")):
        assert "switch (dtype)" not in path.read_text(), path.relative_to(CSRC)


@pytest.mark.skipif(not _extension.load()[0], reason="the CUDA extension is not built")
def test_registered_cuda_ops_are_the_glue_schemas():
    registered = {
        str(s).removeprefix("convkernels::")
        for s in torch._C._jit_get_all_schemas()
        if s.name.startswith("convkernels::cuda_")
    }
    expected = {
        schema
        for path in _glue_files()
        for schema in (str(torch._C.parse_schema(s)) for s in _schemas(path.read_text()))
    }
    assert registered == expected
    for name in _defined_names():
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"convkernels::{name}", "CUDA"), name
