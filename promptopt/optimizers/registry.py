"""The optimizers by name: one table that the API, the CLI and the benchmark all look up.

Classes are imported on first use, so naming an optimizer (``--help``, validating a flag)
costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptopt.optimizers.base import Optimizer

__all__ = ["OPTIMIZERS", "config_class", "optimizer_class"]

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


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class registered under ``name`` (imported on first use)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown optimizer '{name}' (available: {', '.join(OPTIMIZERS)})")
    module, attr = _REGISTRY[name].split(":")
    cls: type[Optimizer] = getattr(importlib.import_module(module), attr)
    return cls


def config_class(name: str) -> type:
    """The config dataclass of the optimizer ``name`` (e.g. CAPOConfig for "capo")."""
    return optimizer_class(name).config_type
