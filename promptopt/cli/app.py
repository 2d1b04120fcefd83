"""The Typer application and its command groups; command modules register onto them."""

from __future__ import annotations

import json
import os
from typing import Any

import typer

from promptopt._version import __version__

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

app = typer.Typer(
    name="promptopt",
    help="Prompt and plan optimization for black-box LLMs at a controlled cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cache_app = typer.Typer(help="Inspect or clear the response cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
plan_app = typer.Typer(help="Cooperative planning: text environments, scripted and LLM teams.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
rubric_app = typer.Typer(help="Judge rubrics: refine one from a set of outputs.", no_args_is_help=True)
app.add_typer(rubric_app, name="rubric")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"promptopt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """promptopt: find better prompts for your task and model, at a controlled cost."""


def emit_json(data: Any) -> None:
    """``--json`` output: one indented JSON document, keys sorted, non-ASCII kept."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
