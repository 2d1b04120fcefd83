"""promptopt: prompt and plan optimization for black-box LLMs at a controlled cost.

``promptopt.load(path)`` loads a prompt artifact for use in an application; the LLM layer lives in
:mod:`promptopt.llm`, tasks in :mod:`promptopt.tasks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports
from promptopt._version import __version__

__all__ = ["Artifact", "LoadedPrompt", "Prompt", "__version__", "aoptimize", "load", "optimize"]

_WHERE = {
    "Artifact": "promptopt.artifact",
    "LoadedPrompt": "promptopt.artifact",
    "load": "promptopt.artifact",
    "Prompt": "promptopt.prompt",
    "optimize": "promptopt.optimization",
    "aoptimize": "promptopt.optimization",
}

if TYPE_CHECKING:
    from promptopt.artifact import Artifact, LoadedPrompt, load
    from promptopt.optimization import aoptimize, optimize
    from promptopt.prompt import Prompt


__getattr__ = lazy_exports(__name__, _WHERE)
