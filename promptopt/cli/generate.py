"""``promptopt generate`` (one message to a model) and ``promptopt models`` (what runs here)."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from promptopt.cli.app import app, emit_json
from promptopt.cli.groups import command
from promptopt.cli.options import CacheChoice, Json, MaxTokens, Model, Seed, Temperature
from promptopt.errors import PromptoptError


@app.command()
@command
def generate(
    text: Annotated[str, typer.Argument(help="The user message to send.")],
    model: Model = "local",
    system: Annotated[Optional[str], typer.Option("--system", help="An optional system message.")] = None,
    max_tokens: MaxTokens = 128,
    temperature: Temperature = 0.0,
    seed: Seed = None,
    cache: CacheChoice = CacheChoice(),
    as_json: Json = False,
) -> None:
    """Send one message to a model; print the reply and what it cost."""
    import asyncio

    from promptopt.llm.connection import connect
    from promptopt.llm.records import ChatRequest, Message

    spec = "local" if model is None else model
    messages = ((Message("system", system),) if system else ()) + (Message("user", text),)
    request = ChatRequest(messages=messages, max_tokens=max_tokens or 128, temperature=temperature or 0.0, seed=seed)
    client = connect(spec, cache=cache.choice())

    async def run() -> Any:
        try:
            return await client.complete_one(request)
        finally:
            await client.aclose()

    if as_json or not sys.stderr.isatty():
        response = asyncio.run(run())
    else:
        from rich.console import Console

        with Console(stderr=True).status(f"Asking {spec} ..."):
            response = asyncio.run(run())
    if not response.ok:
        raise PromptoptError(f"The model returned an error ({response.error_kind}): {response.error}")
    usage = client.ledger.role("downstream")
    if as_json:
        emit_json({
            "model": spec,
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
        })
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


@app.command()
@command
def models(
    as_json: Json = False,
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Run the embedded model once (one token, in a worker process).")] = True,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when the embedded model cannot run here (for set-up scripts).")] = False,
) -> None:
    """Which backends are usable here, and whether the embedded model runs on this machine."""
    from promptopt.llm.availability import backend_report, probe_local_model

    report = backend_report()
    local = next(row for row in report["backends"] if row["name"] == "local")
    if (probe or check) and local["available"]:  # --check needs the probe's answer
        report["local_probe"] = probe_local_model()
    if as_json:
        emit_json(report)
    else:
        for row in report["backends"]:
            mark = "yes" if row["available"] else "no "
            typer.echo(f"{mark}  {row['name']:<8} {row['spec']:<44} {row['detail']}")
        if "local_probe" in report:
            _echo_probe(report["local_probe"])
    runs = report.get("local_probe", {}).get("runs_here", False)
    if check and not runs:
        raise typer.Exit(1)


def _batching_words(parallel: int) -> str:
    from promptopt.llm.backends.llama_batch import AUTO_PARALLEL

    if parallel == 1:
        return "off (two requests in one pass get other logits than alone, with this model and build)"
    words = f"{parallel} requests per pass, each with the logits it gets alone"
    return words if parallel >= AUTO_PARALLEL else f"{words} ({parallel + 1} in a pass would change them here)"


def _echo_probe(probe: dict[str, Any]) -> None:
    if probe["runs_here"]:
        typer.echo(f"the embedded model runs here (one token in {probe['seconds']} s)")
    else:
        typer.echo(f"the embedded model cannot run here: {probe['error']}")
    if probe["system_info"]:
        typer.echo(f"llama.cpp build: {probe['system_info']}")
    if probe["reuses_prefix"] is not None:
        typer.echo("prefix reuse: on (a prompt split in two gets the same logits here)" if probe["reuses_prefix"]
                   else "prefix reuse: off (a prompt split in two gets other logits with this model and build)")
    if probe.get("parallel"):
        typer.echo(f"batched decoding: {_batching_words(probe['parallel'])}")
    if probe["non_portable_features"]:
        typer.echo(
            f"this build uses {', '.join(probe['non_portable_features'])}: it was compiled for this "
            "CPU (-march=native) and may crash on others"
        )
    if probe["fix"]:
        typer.echo(f"fix: {probe['fix']}")
