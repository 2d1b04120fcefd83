"""``promptopt eval`` (score a prompt on a split) and ``promptopt compare`` (two prompts, paired)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt.cli.app import app, emit_json
from promptopt.cli.groups import command
from promptopt.cli.inputs import load_candidate, model_or_default, resolve_task
from promptopt.cli.options import (
    CacheChoice,
    Json,
    Limit,
    MaxTokens,
    Model,
    Renderer,
    Sharding,
    Split,
    TaskSource,
    Temperature,
    finite,
)


class _Scoring:
    """What eval and compare share: the examples of a split, the model, the sampling and the
    renderer (each flag, else the artifact's, else the default)."""

    def __init__(self, task: Any, split: str, limit: Optional[int], artifact: Any, model: Optional[str],
                 renderer: Optional[str], max_tokens: Optional[int], temperature: Optional[float]) -> None:
        from dataclasses import replace

        from promptopt.llm.records import Sampling

        if split not in ("dev", "test"):
            raise typer.BadParameter(f"choose 'dev' or 'test', got '{split}'", param_hint="'--split'")
        examples = task.split(split)
        self.task, self.split = task, split
        self.examples = examples[:limit] if limit else examples
        self.model = model_or_default(model, artifact)
        self.renderer = renderer or (artifact.renderer if artifact is not None else "paper")
        sampling = artifact.sampling() if artifact is not None else Sampling()
        if max_tokens is not None:
            sampling = replace(sampling, max_tokens=max_tokens)
        if temperature is not None:
            sampling = replace(sampling, temperature=temperature)
        self.sampling = sampling

    def run(self, prompts: list[Any], cache: CacheChoice, quiet: bool) -> tuple[list[Any], Any]:
        """Score ``prompts`` on the examples (progress on stderr unless ``quiet``)."""
        import asyncio

        from promptopt.evaluation import evaluate
        from promptopt.llm.connection import connect
        from promptopt.progress import progress_bar

        client = connect(self.model, cache=cache.choice())

        async def run(update: Any) -> list[Any]:
            try:
                return await evaluate(prompts, self.examples, self.task, client, renderer=self.renderer,
                                      sampling=self.sampling, split=self.split, on_progress=update)
            finally:
                await client.aclose()

        with progress_bar(f"{self.task.name} ({self.split})", enabled=None if not quiet else False,
                          ledger=client.ledger) as update:
            results = asyncio.run(run(update))
        return results, client.ledger.role("downstream")

    def run_sharded(self, prompt: Any, cache: CacheChoice, quiet: bool, sharding: Sharding) -> tuple[Any, Any]:
        """Score ``prompt`` in shards under ``sharding.out`` (see :mod:`promptopt.sharded_eval`)."""
        import asyncio

        from promptopt.executors import ExecutorSpec
        from promptopt.llm.cache import default_cache_path
        from promptopt.progress import progress_bar
        from promptopt.sharded_eval import RESULTS_FILE, ShardJob, default_shards, evaluate_sharded

        out = sharding.out
        assert out is not None
        spec = ExecutorSpec.parse(sharding.executor or "serial")
        cache_path = None if cache.no_cache else str(cache.cache_path or default_cache_path())
        job = ShardJob(prompt, tuple(self.examples), self.task, self.renderer, self.sampling, self.split,
                       cache_path, str(out))
        count = sharding.shards or default_shards(len(self.examples), spec)
        with progress_bar(f"{self.task.name} ({self.split}, {count} shards)", enabled=None if not quiet else False) as update:
            done = asyncio.run(evaluate_sharded(job, [self.model, *(sharding.endpoints or [])], shards=count,
                                                executor=spec, on_shard=update, parquet=sharding.parquet))
        if not quiet:
            typer.echo(f"shards {done.shards} ({done.reused} reused from {out}) | results {out / RESULTS_FILE}")
        return done.result, done.usage


def _warn_failures(result: Any, endpoint: str) -> None:
    """Failed requests score 0; say how many, and of which kind when they are more than a few."""
    from promptopt.llm.failures import WARN_SHARE

    failures = result.failures
    detail = f": {failures.describe(endpoint)}" if failures is not None and failures.share > WARN_SHARE else ""
    typer.echo(f"warning: {result.errors} request(s) failed and were scored as wrong{detail}", err=True)


PromptFile = Annotated[Path, typer.Argument(help="A prompt artifact (.json) or a text file holding an instruction.")]


@app.command("eval")
@command
def eval_command(
    prompt_file: PromptFile,
    task: TaskSource,
    split: Split = "test",
    model: Model = None,
    limit: Limit = None,
    min_score: Annotated[Optional[float], typer.Option("--min-score", callback=finite, help="Exit with code 1 when the score is below this (a CI gate).")] = None,
    renderer: Renderer = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    cache: CacheChoice = CacheChoice(),
    as_json: Json = False,
    sharding: Sharding = Sharding(),
) -> None:
    """Score a prompt on a task split: score with its 95% interval, parse failures, tokens.

    The model, renderer and sampling default to the artifact's (else 'local', paper, 256 tokens).
    With --out (and --shards, --executor, --endpoint) the examples are scored in shards that
    resume one by one, in worker processes or on Ray; the score equals an evaluation in one process.
    """
    resolved = resolve_task(task)
    prompt, artifact = load_candidate(prompt_file, resolved)
    scoring = _Scoring(resolved, split, limit, artifact, model, renderer, max_tokens, temperature)
    if sharding.out is None and sharding.asked():
        raise typer.BadParameter(f"{sharding.asked()} scores in shards, which needs --out FOLDER for their "
                                 "checkpoints", param_hint="'--out'")
    if sharding.out is not None:
        result, usage = scoring.run_sharded(prompt, cache, as_json, sharding)
    else:
        [result], usage = scoring.run([prompt], cache, as_json)
    passed = min_score is None or result.estimate.value >= min_score
    spec = scoring.model
    if as_json:
        emit_json({"task": resolved.name, "split": split, "model": spec, **result.summary(),
                   "min_score": min_score, "passed": passed, "usage": usage.to_dict()})
    else:
        from promptopt.progress import usage_note

        est = result.estimate
        typer.echo(f"task {resolved.name} ({split}, {result.n} examples) | model {spec} | prompt {result.prompt_hash}")
        typer.echo(f"{result.metric} {est.value:.3f} (95% CI {est.low:.3f}-{est.high:.3f}, {est.method})")
        typer.echo(f"parse failures {result.parse_failures} | errors {result.errors} | cached {result.cached}/{result.n}")
        typer.echo(f"tokens {result.prompt_tokens} prompt + {result.completion_tokens} completion (cache hits not charged)")
        typer.echo(f"spend {usage_note(usage)}, {usage.cache_hits} cache hits")
    if result.errors:
        _warn_failures(result, spec)
    if not passed:
        typer.echo(f"score {result.estimate.value:.3f} is below --min-score {min_score}", err=True)
        raise typer.Exit(1)


@app.command("compare")
@command
def compare_command(
    prompt_a: PromptFile,
    prompt_b: Annotated[Path, typer.Argument(help="The second prompt (artifact .json or instruction text file).")],
    task: TaskSource,
    split: Split = "test",
    model: Model = None,
    limit: Limit = None,
    renderer: Renderer = None,
    max_tokens: MaxTokens = None,
    cache: CacheChoice = CacheChoice(),
    as_json: Json = False,
) -> None:
    """Compare two prompts on the same examples: difference, 95% interval, p-values.

    Both run with A's artifact's model, renderer and sampling where the flags leave them out.
    """
    from dataclasses import asdict

    from promptopt.evaluation import compare

    resolved = resolve_task(task)
    (first, artifact), (second, _) = load_candidate(prompt_a, resolved), load_candidate(prompt_b, resolved)
    scoring = _Scoring(resolved, split, limit, artifact, model, renderer, max_tokens, None)
    (a, b), _ = scoring.run([first, second], cache, as_json)
    result = compare(a, b)
    if as_json:
        emit_json({"task": resolved.name, "split": split, "model": scoring.model, "a": a.summary(),
                   "b": b.summary(), **asdict(result)})
        return
    typer.echo(f"task {resolved.name} ({split}, {result.n} examples) | model {scoring.model}")
    typer.echo(f"A {prompt_a.name}: {result.mean_a:.3f}   B {prompt_b.name}: {result.mean_b:.3f}")
    typer.echo(f"A - B = {result.difference:+.3f} (95% CI {result.low:+.3f} to {result.high:+.3f}), paired bootstrap p = {result.p_bootstrap:.4f}")
    if result.p_mcnemar is not None:
        typer.echo(f"exact McNemar p = {result.p_mcnemar:.4f} (A right & B wrong: {result.a_only}, B right & A wrong: {result.b_only})")
