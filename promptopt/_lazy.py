"""Lazy public names for package ``__init__`` modules.

A package lists, per module, the public names it re-exports (``_WHERE = {module: (name, ...)}``);
the module is imported on first access, so ``import promptopt`` and the CLI's ``--help`` stay fast
however heavy the implementation is. The one table is also the package's ``__all__``, so each
name is written once.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, Sequence


def exported_names(where: Mapping[str, Sequence[str]]) -> list[str]:
    """Every name of ``where``, in table order (a package's ``__all__``)."""
    return [name for names in where.values() for name in names]


def lazy_exports(package: str, where: Mapping[str, Sequence[str]]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports the module listing ``name`` on first use."""
    home = {name: module for module, names in where.items() for name in names}
    if len(home) != len(exported_names(where)):
        raise ValueError(f"{package}: a name is listed under two modules")

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
