"""The optimizers by name: one table that the API, the CLI and the benchmark all look up.

Classes are imported on first use, so naming an optimizer (``--help``, validating a flag)
costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptopt.optimizers.base import Optimizer

__all__ = ["OPTIMIZERS", "check_name", "config_class", "optimizer_class"]

#: Optimizer name -> "module:class". "initial" is the floor: the best initial prompt, no search.
_REGISTRY = {
    "capo": "promptopt.optimizers.capo:CAPO",
    "opro": "promptopt.optimizers.opro:OPRO",
    "evoprompt-ga": "promptopt.optimizers.evoprompt:EvoPromptGA",
    "evoprompt-de": "promptopt.optimizers.evoprompt:EvoPromptDE",
    "initial": "promptopt.optimizers.initial:InitialOnly",
    "mpo": "promptopt.optimizers.mpo:MPO",
}
OPTIMIZERS = tuple(_REGISTRY)


def check_name(name: str) -> str:
    """``name`` if an optimizer is registered under it, else ValueError listing the ones there are
    (nothing is imported)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown optimizer '{name}' (available: {', '.join(OPTIMIZERS)})")
    return name


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class registered under ``name`` (imported on first use)."""
    module, attr = _REGISTRY[check_name(name)].split(":")
    cls: type[Optimizer] = getattr(importlib.import_module(module), attr)
    return cls


def config_class(name: str) -> type:
    """The config dataclass of the optimizer ``name`` (e.g. CAPOConfig for "capo")."""
    return optimizer_class(name).config_type
