"""The ``promptopt`` command line: one module per command group, options declared once
(:mod:`promptopt.cli.options`), shared option groups spread by :mod:`promptopt.cli.groups`.

Heavy modules (openai, litellm, llama.cpp) are imported inside commands, never at module level:
``promptopt --help`` must answer at once.
"""

from __future__ import annotations

from promptopt.cli import bench, cache, generate, optimize, plan, report, rubric, scoring, tasks  # noqa: F401  (register)
from promptopt.cli.app import app
from promptopt.cli.console import run_app

__all__ = ["app", "main"]


def main() -> None:
    """The ``promptopt`` entry point."""
    run_app(app)
