"""promptopt: prompt and plan optimization for black-box LLMs at a controlled cost.

``promptopt.load(path)`` loads a prompt artifact for use in an application; the LLM layer lives in
:mod:`promptopt.llm`, tasks in :mod:`promptopt.tasks`.
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports
from promptopt._version import __version__

_WHERE = {
    "promptopt.artifact": ("Artifact", "LoadedPrompt", "load"),
    "promptopt.optimization": ("optimize", "aoptimize"),
    "promptopt.prompt": ("Prompt",),
}

__all__ = ["__version__", *exported_names(_WHERE)]
__getattr__ = lazy_exports(__name__, _WHERE)
