"""Lazy public names for package ``__init__`` modules.

Packages list where each public name lives; the module is imported on first access, so
``import promptopt`` and the CLI's ``--help`` stay fast however heavy the implementation is.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports ``where[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
