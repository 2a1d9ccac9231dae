"""The Bazel BUILD file declares every package and test (checked without Bazel)."""

from __future__ import annotations

import ast
import glob as globlib
import re

from tests.conftest import ROOT


def _load_build() -> dict[str, dict]:
    """Evaluates BUILD with Python stand-ins for the native rules (Starlark ⊂ Python here)."""
    targets: dict[str, dict] = {}

    def rule(kind):
        def record(**kwargs):
            assert kwargs["name"] not in targets, f"duplicate target {kwargs['name']}"
            targets[kwargs["name"]] = {"kind": kind, **kwargs}
        return record

    def glob(include, exclude=()):
        found = {str(p.relative_to(ROOT)) for pat in include for p in ROOT.glob(pat)}
        return sorted(found - {str(p.relative_to(ROOT)) for pat in exclude for p in ROOT.glob(pat)})

    source = (ROOT / "BUILD").read_text()
    ast.parse(source)  # Starlark syntax used here is a subset of Python's.
    env = {k: rule(k) for k in ("py_library", "py_binary", "py_test")}
    env.update(glob=glob, package=lambda **kw: None, exports_files=lambda *a, **kw: None)
    exec(compile(source, "BUILD", "exec"), env)  # noqa: S102 - our own BUILD file
    return targets


def test_every_test_module_has_a_py_test():
    targets = _load_build()
    tests = {name for name, t in targets.items() if t["kind"] == "py_test"}
    files = {re.sub(r"\.py$", "", p.split("/")[-1]) for p in globlib.glob(str(ROOT / "tests/test_*.py"))}
    assert files and files == tests


def test_libraries_cover_the_packages_and_binaries_exist():
    targets = _load_build()
    for package in ("zoo", "recipes", "export"):
        assert targets[package]["kind"] == "py_library"
    covered = set().union(*(set(t.get("srcs", [])) for t in targets.values()))
    for path in ROOT.glob("*/**/*.py"):
        rel = str(path.relative_to(ROOT))
        if rel.split("/")[0] in ("zoo", "recipes", "export"):
            assert rel in covered, f"{rel} is in no Bazel target"
    for binary in ("train", "evaluate", "saved_model", "zoo_cli"):
        assert targets[binary]["kind"] == "py_binary"
