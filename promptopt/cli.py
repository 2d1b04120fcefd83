"""The ``promptopt`` command line.

Heavy modules (openai, litellm, llama.cpp) are imported inside commands, never at module level:
``promptopt --help`` must answer at once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from promptopt._version import __version__
from promptopt.errors import PromptoptError

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

MODEL_HELP = (
    "Model spec: 'local' (embedded SmolLM2), 'local:PATH.gguf', 'openai:MODEL', "
    "'openai:MODEL@http://host:8000/v1', 'litellm:PROVIDER/MODEL[@URL,URL]', 'vllm:MODEL'; "
    "options after '?', e.g. '?key_env=VAR&max_concurrency=32&rpm=500&tpm=100000&timeout=60'."
)
CACHE_PATH_HELP = "Response cache file (default: $PROMPTOPT_CACHE or the user cache directory)."


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


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def _open_cache(path: Optional[Path]) -> Any:
    from promptopt.llm.cache import ResponseCache

    return ResponseCache(path)


@app.command()
def generate(
    text: str = typer.Argument(..., help="The user message to send."),
    model: str = typer.Option("local", "--model", "-m", help=MODEL_HELP),
    system: Optional[str] = typer.Option(None, "--system", help="An optional system message."),
    max_tokens: int = typer.Option(128, "--max-tokens", min=1, help="Completion token cap."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, max=2.0),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed sent to the model."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache."),
    cache_path: Optional[Path] = typer.Option(None, "--cache", help=CACHE_PATH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Send one message to a model; print the reply and what it cost."""
    import asyncio

    from promptopt.llm.connect import connect
    from promptopt.llm.records import ChatRequest, Message

    messages = ((Message("system", system),) if system else ()) + (Message("user", text),)
    request = ChatRequest(messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
    client = connect(model, cache=None if no_cache else _open_cache(cache_path))

    async def run() -> Any:
        try:
            return await client.complete_one(request)
        finally:
            await client.aclose()

    if as_json or not sys.stderr.isatty():
        response = asyncio.run(run())
    else:
        from rich.console import Console

        with Console(stderr=True).status(f"Asking {model} ..."):
            response = asyncio.run(run())
    if not response.ok:
        raise PromptoptError(f"The model returned an error ({response.error_kind}): {response.error}")
    usage = client.ledger.role("downstream")
    if as_json:
        _emit_json(
            {
                "model": model,
                "text": response.text,
                "finish_reason": response.finish_reason,
                "cached": response.cached,
                "usage": {
                    "prompt_tokens": response.usage.prompt_tokens,
                    "completion_tokens": response.usage.completion_tokens,
                    "estimated": response.usage.estimated,
                },
                "latency_s": round(response.latency_s, 4),
                "ledger": usage.to_dict(),
            }
        )
        return
    typer.echo(response.text)
    source = "cache hit, not charged" if response.cached else (
        "estimated" if response.usage.estimated else "backend-counted"
    )
    cost = f", ${usage.usd:.6f}" if usage.usd is not None else ""
    typer.echo(
        f"[{response.usage.prompt_tokens} prompt + {response.usage.completion_tokens} completion "
        f"tokens ({source}), finish={response.finish_reason}, {response.latency_s:.2f}s{cost}]",
        err=True,
    )


@cache_app.command("stats")
def cache_stats(
    cache_path: Optional[Path] = typer.Option(None, "--path", help=CACHE_PATH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Entries, size and models in the response cache."""
    with _open_cache(cache_path) as cache:
        stats = cache.stats()
    data = {
        "path": str(stats.path),
        "entries": stats.entries,
        "size_bytes": stats.size_bytes,
        "per_model": dict(stats.per_model),
    }
    if as_json:
        _emit_json(data)
        return
    typer.echo(f"cache: {data['path']}")
    typer.echo(f"entries: {stats.entries}  size: {stats.size_bytes / 1e6:.2f} MB")
    for name, count in sorted(stats.per_model.items()):
        typer.echo(f"  {name}: {count}")


@cache_app.command("clear")
def cache_clear(
    cache_path: Optional[Path] = typer.Option(None, "--path", help=CACHE_PATH_HELP),
    model: Optional[str] = typer.Option(
        None, "--model", help="Only entries of this model identity (see 'cache stats')."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete cached responses (all, or one model's). A corrupt cache file is recreated."""
    from promptopt.errors import CacheError
    from promptopt.llm.cache import ResponseCache, default_cache_path

    path = cache_path or default_cache_path()
    try:
        with ResponseCache(path) as cache:
            removed: int | str = cache.clear(model)
    except CacheError:
        if model is not None or not Path(path).exists():
            raise
        ResponseCache.reset_file(path)
        removed = "all (the file was unreadable and has been recreated)"
    if as_json:
        _emit_json({"path": str(path), "removed": removed})
    else:
        typer.echo(f"removed {removed} entries from {path}")


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Which backends are usable here, and whether the embedded model is installed."""
    from promptopt.llm.availability import backend_report

    report = backend_report()
    if as_json:
        _emit_json(report)
        return
    for row in report["backends"]:
        mark = "yes" if row["available"] else "no "
        typer.echo(f"{mark}  {row['name']:<8} {row['spec']:<44} {row['detail']}")


def main() -> None:
    """Entry point: user errors print one clear line and exit 1, without a traceback."""
    try:
        app()
    except PromptoptError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
