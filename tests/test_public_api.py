"""The packages' lazy public names (promptopt/_lazy.py): each resolves, and importing a package
imports none of them, so ``import promptopt`` and ``promptopt --help`` stay fast."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from promptopt._lazy import lazy_exports

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
LAZY = [p for p in PACKAGES if hasattr(importlib.import_module(p), "_WHERE")]


def test_the_lazy_packages_are_found():
    assert {"promptopt", "promptopt.llm", "promptopt.tasks", "promptopt.judging", "promptopt.optimizers"} <= set(LAZY)


@pytest.mark.parametrize("package", LAZY)
def test_every_public_name_resolves_to_the_module_its_table_names(package):
    module = importlib.import_module(package)
    for home, names in module._WHERE.items():
        for name in names:
            assert getattr(module, name) is getattr(importlib.import_module(home), name), f"{package}.{name}"
            assert name in module.__all__
    with pytest.raises(AttributeError):
        getattr(module, "no_such_name")


def test_importing_the_packages_imports_none_of_their_modules():
    code = f"import sys; import {', '.join(LAZY)}; print(' '.join(m for m in sys.modules if m.startswith('promptopt')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert set(loaded.stdout.split()) <= set(LAZY) | {"promptopt._lazy", "promptopt._version"}


def test_a_name_listed_under_two_modules_is_refused():
    with pytest.raises(ValueError, match="two modules"):
        lazy_exports("pkg", {"pkg.a": ("x",), "pkg.b": ("x",)})
