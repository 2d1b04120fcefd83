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

from promptopt import bounds
from promptopt.bounds import DEFAULT_NO_IMPROVEMENT
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
plan_app = typer.Typer(help="Cooperative planning: text environments, scripted and LLM teams.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")

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
    max_tokens: int = typer.Option(128, "--max-tokens", **bounds.flag("max_tokens"), help="Completion token cap."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, max=2.0),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed sent to the model."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache."),
    cache_path: Optional[Path] = typer.Option(None, "--cache", help=CACHE_PATH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Send one message to a model; print the reply and what it cost."""
    import asyncio

    from promptopt.llm.connection import connect
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
    """Entries, size and models in the response cache (a path with no cache yet is not created)."""
    from promptopt.llm.cache import default_cache_path

    path = cache_path or default_cache_path()
    if not path.exists():
        data: dict[str, Any] = {"path": str(path), "entries": 0, "size_bytes": 0, "per_model": {}}
        if as_json:
            _emit_json({**data, "exists": False})
        else:
            typer.echo(f"cache: {path} (no cache file yet: 0 entries)")
        return
    with _open_cache(path) as cache:
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
    from promptopt.llm.cache import CorruptCacheError, ResponseCache, default_cache_path

    path = cache_path or default_cache_path()
    try:
        with ResponseCache(path) as cache:
            removed: int | str = cache.clear(model)
    except CorruptCacheError:  # only a damaged cache is recreated; a locked or foreign file is kept
        if model is not None or not Path(path).exists():
            raise
        ResponseCache.reset_file(path)
        removed = "all (the file was unreadable and has been recreated)"
    if as_json:
        _emit_json({"path": str(path), "removed": removed})
    else:
        typer.echo(f"removed {removed} entries from {path}")


@app.command()
def models(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    probe: bool = typer.Option(
        True, "--probe/--no-probe", help="Run the embedded model once (one token, in a worker process)."
    ),
    check: bool = typer.Option(
        False, "--check", help="Exit 1 when the embedded model cannot run here (for set-up scripts)."
    ),
) -> None:
    """Which backends are usable here, and whether the embedded model runs on this machine."""
    from promptopt.llm.availability import backend_report, probe_local_model

    report = backend_report()
    local = next(row for row in report["backends"] if row["name"] == "local")
    if (probe or check) and local["available"]:  # --check needs the probe's answer
        report["local_probe"] = probe_local_model()
    if as_json:
        _emit_json(report)
    else:
        for row in report["backends"]:
            mark = "yes" if row["available"] else "no "
            typer.echo(f"{mark}  {row['name']:<8} {row['spec']:<44} {row['detail']}")
        if "local_probe" in report:
            _echo_probe(report["local_probe"])
    runs = report.get("local_probe", {}).get("runs_here", False)
    if check and not runs:
        raise typer.Exit(1)


def _echo_probe(probe: dict[str, Any]) -> None:
    if probe["runs_here"]:
        typer.echo(f"the embedded model runs here (one token in {probe['seconds']} s)")
    else:
        typer.echo(f"the embedded model cannot run here: {probe['error']}")
    if probe["system_info"]:
        typer.echo(f"llama.cpp build: {probe['system_info']}")
    if probe["non_portable_features"]:
        typer.echo(
            f"this build uses {', '.join(probe['non_portable_features'])}: it was compiled for this "
            "CPU (-march=native) and may crash on others"
        )
    if probe["fix"]:
        typer.echo(f"fix: {probe['fix']}")


DATA_DIR_HELP = "Folder with one sub-folder per task holding dev.jsonl and test.jsonl (default: $PROMPTOPT_DATA_DIR)."
TASK_HELP = "A registered task name (see 'promptopt tasks') or a JSONL/CSV/Parquet file."


def _resolve_task(task: str, data_dir: Optional[Path], input_field: Optional[list[str]], target_field: Optional[str]) -> Any:
    """A task name, or a data file with --input-field/--target-field."""
    from promptopt.tasks.registry import load_task, load_task_from_file

    path = Path(task)
    if path.suffix.lower() in (".jsonl", ".csv", ".parquet") or path.is_file():
        if not input_field or not target_field:
            raise typer.BadParameter(
                "a data file needs --input-field (repeatable) and --target-field", param_hint="--task"
            )
        return load_task_from_file(path, input_fields=input_field, target_field=target_field)
    if input_field or target_field:
        raise typer.BadParameter("--input-field/--target-field only apply to a data file", param_hint="--task")
    return load_task(task, data_dir=data_dir)


def _load_candidate(path: Path, task: Any) -> tuple[Any, Any]:
    """(Prompt, Artifact or None) from an artifact JSON file or a hand-written prompt text file
    (UTF-8, a byte-order mark dropped); an artifact made for another task is scored with a warning."""
    from promptopt.artifact import Artifact
    from promptopt.prompt import load_prompt_text

    if path.suffix.lower() == ".json":
        artifact = Artifact.load(path)
        _warn_other_task(path, artifact, task)
        return artifact.to_prompt(), artifact
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory: give a prompt artifact (.json) or a text file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise typer.BadParameter(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise typer.BadParameter(f"{path} is empty: write the instruction into it")
    return load_prompt_text(text), None


def _warn_other_task(path: Path, artifact: Any, task: Any) -> None:
    """Scoring a prompt on a task it was not made for is allowed (transfer), but never silent."""
    import warnings

    made_for = artifact.task
    if made_for.name != task.name:
        warnings.warn(f"{path} was made for task '{made_for.name}'; scoring it on task '{task.name}'", stacklevel=2)
    elif made_for.fingerprint != task.fingerprint():
        warnings.warn(
            f"{path} was made for task '{task.name}' with other data (fingerprint {made_for.fingerprint} "
            f"there, {task.fingerprint()} here): its stored scores do not apply to these examples",
            stacklevel=2,
        )


def _finite(value: Optional[float]) -> Optional[float]:
    """A typer callback: a threshold that is a number (typer accepts 'nan' and 'inf' as floats)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


@app.command("tasks")
def tasks_command(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the tasks: name, size, source and answer format."""
    from dataclasses import asdict

    from promptopt.tasks.registry import list_tasks

    rows = [asdict(info) for info in list_tasks(data_dir=data_dir)]
    if as_json:
        _emit_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("task", "dev", "test", "source", "answer format", box=None)
    for row in rows:
        table.add_row(row["name"], _count(row.get("dev_size")), _count(row.get("test_size")), row["source"], row["answer_format"])
    Console().print(table)


def _count(value: Any) -> str:
    return "?" if value is None else str(value)


class _EvalSettings:
    """What eval and compare share: task, split, model, sampling, limit."""

    def __init__(self, task: Any, split: str, limit: Optional[int]) -> None:
        if split not in ("dev", "test"):
            raise typer.BadParameter(f"choose 'dev' or 'test', got '{split}'", param_hint="'--split'")
        examples = task.split(split)
        self.task = task
        self.split = split
        self.examples = examples[:limit] if limit else examples


def _run_evaluation(prompts: list[Any], settings: _EvalSettings, model: str, sampling: Any, renderer: str, no_cache: bool, quiet: bool) -> tuple[list[Any], Any]:
    import asyncio

    from promptopt.evaluation import evaluate
    from promptopt.llm.connection import connect
    from promptopt.progress import progress_bar

    client = connect(model, cache=None if no_cache else "default")

    async def run(update: Any) -> list[Any]:
        try:
            return await evaluate(prompts, settings.examples, settings.task, client, renderer=renderer,
                                  sampling=sampling, split=settings.split, on_progress=update)
        finally:
            await client.aclose()

    with progress_bar(f"{settings.task.name} ({settings.split})", enabled=None if not quiet else False,
                      ledger=client.ledger) as update:
        results = asyncio.run(run(update))
    return results, client.ledger.role("downstream")


def _model_or_default(model: Optional[str], artifact: Any) -> str:
    """--model as given (an empty one is refused, never read as "use the default"), else the
    artifact's model, else the embedded one."""
    if model is not None:
        if not model.strip():
            raise typer.BadParameter("the model spec is empty (e.g. 'local' or 'openai:MODEL@URL')", param_hint="'--model'")
        return model
    return artifact.model.spec if artifact is not None and artifact.model else "local"


def _warn_failures(result: Any, endpoint: str) -> None:
    """Failed requests score 0; say how many, and of which kind when they are more than a few."""
    from promptopt.llm.failures import WARN_SHARE

    failures = result.failures
    detail = f": {failures.describe(endpoint)}" if failures is not None and failures.share > WARN_SHARE else ""
    typer.echo(f"warning: {result.errors} request(s) failed and were scored as wrong{detail}", err=True)


def _sampling(artifact: Any, max_tokens: Optional[int], temperature: Optional[float]) -> Any:
    from dataclasses import replace

    from promptopt.llm.records import Sampling

    base = artifact.sampling() if artifact is not None else Sampling()
    if max_tokens is not None:
        base = replace(base, max_tokens=max_tokens)
    if temperature is not None:
        base = replace(base, temperature=temperature)
    return base


def _result_dict(result: Any) -> dict[str, Any]:
    est = result.estimate
    return {
        "prompt_hash": result.prompt_hash,
        "metric": result.metric,
        "n": result.n,
        "score": est.value,
        "low": est.low,
        "high": est.high,
        "interval_method": est.method,
        "parse_failures": result.parse_failures,
        "errors": result.errors,
        "cached": result.cached,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
    }


@app.command("eval")
def eval_command(
    prompt_file: Path = typer.Argument(..., help="A prompt artifact (.json) or a text file holding an instruction."),
    task: str = typer.Option(..., "--task", "-t", help=TASK_HELP),
    split: str = typer.Option("test", "--split", help="dev or test."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP + " Default: the artifact's model, else 'local'."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N examples of the split."),
    min_score: Optional[float] = typer.Option(None, "--min-score", callback=_finite, help="Exit with code 1 when the score is below this (a CI gate)."),
    renderer: Optional[str] = typer.Option(None, "--renderer", help="paper or chat (default: the artifact's, else paper)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", **bounds.flag("max_tokens"), help="Completion token cap (default: the artifact's, else 256)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, max=2.0),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    input_field: Optional[list[str]] = typer.Option(None, "--input-field", help="Input field(s) of a data file."),
    target_field: Optional[str] = typer.Option(None, "--target-field", help="Target field of a data file."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the response cache."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score a prompt on a task split: score with its 95% interval, parse failures, tokens."""
    resolved = _resolve_task(task, data_dir, input_field, target_field)
    prompt, artifact = _load_candidate(prompt_file, resolved)
    settings = _EvalSettings(resolved, split, limit)
    spec = _model_or_default(model, artifact)
    render = renderer or (artifact.renderer if artifact is not None else "paper")
    sampling = _sampling(artifact, max_tokens, temperature)
    [result], usage = _run_evaluation([prompt], settings, spec, sampling, render, no_cache, as_json)
    passed = min_score is None or result.estimate.value >= min_score
    if as_json:
        _emit_json({"task": resolved.name, "split": split, "model": spec, **_result_dict(result),
                    "min_score": min_score, "passed": passed, "usage": usage.to_dict()})
    else:
        est = result.estimate
        typer.echo(f"task {resolved.name} ({split}, {result.n} examples) | model {spec} | prompt {result.prompt_hash}")
        typer.echo(f"{result.metric} {est.value:.3f} (95% CI {est.low:.3f}-{est.high:.3f}, {est.method})")
        typer.echo(f"parse failures {result.parse_failures} | errors {result.errors} | cached {result.cached}/{result.n}")
        typer.echo(f"tokens {result.prompt_tokens} prompt + {result.completion_tokens} completion (cache hits not charged)")
        from promptopt.progress import usage_note

        typer.echo(f"spend {usage_note(usage)}, {usage.cache_hits} cache hits")
    if result.errors:
        _warn_failures(result, spec)
    if not passed:
        typer.echo(f"score {result.estimate.value:.3f} is below --min-score {min_score}", err=True)
        raise typer.Exit(1)


@app.command("compare")
def compare_command(
    prompt_a: Path = typer.Argument(..., help="First prompt (artifact .json or instruction text file)."),
    prompt_b: Path = typer.Argument(..., help="Second prompt."),
    task: str = typer.Option(..., "--task", "-t", help=TASK_HELP),
    split: str = typer.Option("test", "--split", help="dev or test."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP + " Default: A's artifact model, else 'local'."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N examples."),
    renderer: Optional[str] = typer.Option(None, "--renderer", help="paper or chat (default: A's artifact renderer, else paper)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", **bounds.flag("max_tokens")),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    input_field: Optional[list[str]] = typer.Option(None, "--input-field"),
    target_field: Optional[str] = typer.Option(None, "--target-field"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Compare two prompts on the same examples: difference, 95% interval, p-values."""
    from dataclasses import asdict

    from promptopt.evaluation import compare

    settings = _EvalSettings(_resolve_task(task, data_dir, input_field, target_field), split, limit)
    (first, artifact), (second, _) = _load_candidate(prompt_a, settings.task), _load_candidate(prompt_b, settings.task)
    # both prompts run with the same settings: A's artifact's (model, renderer, sampling) if any
    model = _model_or_default(model, artifact)
    render = renderer or (artifact.renderer if artifact is not None else "paper")
    sampling = _sampling(artifact, max_tokens, None)
    (a, b), _ = _run_evaluation([first, second], settings, model, sampling, render, no_cache, as_json)
    result = compare(a, b)
    if as_json:
        _emit_json({"task": settings.task.name, "split": split, "model": model, "a": _result_dict(a), "b": _result_dict(b), **asdict(result)})
        return
    typer.echo(f"task {settings.task.name} ({split}, {result.n} examples) | model {model}")
    typer.echo(f"A {prompt_a.name}: {result.mean_a:.3f}   B {prompt_b.name}: {result.mean_b:.3f}")
    typer.echo(f"A - B = {result.difference:+.3f} (95% CI {result.low:+.3f} to {result.high:+.3f}), paired bootstrap p = {result.p_bootstrap:.4f}")
    if result.p_mcnemar is not None:
        typer.echo(f"exact McNemar p = {result.p_mcnemar:.4f} (A right & B wrong: {result.a_only}, B right & A wrong: {result.b_only})")


def _progress_view(enabled: bool) -> Any:
    """A live one-line status for optimize: generation, alive, eliminations, best, spend per role."""
    from contextlib import contextmanager

    @contextmanager
    def view() -> Any:
        if not enabled:
            yield None
            return
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        with Live(Text("starting ..."), console=Console(stderr=True), refresh_per_second=4, transient=False) as live:

            def update(event: Any) -> None:
                best = "-" if event.best_score is None else f"{event.best_score:.3f}"
                from promptopt.progress import spend_line

                spend = spend_line(event.spend)
                live.update(Text(
                    f"generation {event.generation} ({event.phase}) | alive {event.alive} | "
                    f"eliminated {event.eliminated} | best dev {best} | {spend}"
                ))

            yield update

    return view()


@app.command("optimize")
def optimize_command(
    task: str = typer.Option(..., "--task", "-t", help=TASK_HELP),
    model: str = typer.Option("local", "--model", "-m", help=MODEL_HELP),
    meta_model: Optional[str] = typer.Option(None, "--meta-model", help="Model spec for the meta-LLM (default: --model)."),
    optimizer: str = typer.Option("capo", "--optimizer", help="capo (default), opro, evoprompt-ga, evoprompt-de, initial (best initial prompt, no search) or mpo (judge-scored tasks: CAPO with an evolving rubric)."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="mpo: model spec of the judge (default: --model)."),
    meta_judge_model: Optional[str] = typer.Option(None, "--meta-judge-model", help="mpo: model spec that rewrites the rubric (default: --meta-model)."),
    heldout_judge_model: Optional[str] = typer.Option(None, "--heldout-judge-model", help="mpo: another judge for the final choice (default: the task's frozen rubric)."),
    budget_tokens: Optional[int] = typer.Option(None, "--budget-tokens", min=1, help="Stop after this many tokens (all roles)."),
    budget_usd: Optional[float] = typer.Option(None, "--budget-usd", min=0.0, help="Stop after this many US dollars."),
    max_calls: Optional[int] = typer.Option(None, "--max-calls", min=1, help="Stop after this many LLM requests."),
    max_time: Optional[float] = typer.Option(None, "--max-time", min=1.0, help="Stop after this many seconds."),
    max_generations: Optional[int] = typer.Option(None, "--max-generations", min=1, help="Stop after this many generations."),
    no_improvement: int = typer.Option(DEFAULT_NO_IMPROVEMENT, "--no-improvement", min=1, help="Stop after this many generations without a better best."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the best prompt's artifact here (e.g. prompts/T.json)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: runs/TASK-seedS)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir (replays its journal from the cache)."),
    seed: int = typer.Option(42, "--seed", help="Random seed: data splits, blocks, operators."),
    prompt: Optional[list[str]] = typer.Option(None, "--prompt", help="An initial instruction (repeatable); fewer than 2 are completed by the meta-LLM."),
    population: Optional[int] = typer.Option(None, "--population", **bounds.flag("population", low=2), help="Population size mu (default 10)."),
    offspring: Optional[int] = typer.Option(None, "--offspring", **bounds.flag("offspring"), help="New candidates per generation: CAPO's c (default 4), EvoPrompt-GA's children (10), OPRO's proposals (8)."),
    block_size: Optional[int] = typer.Option(None, "--block-size", **bounds.flag("block_size"), help="Examples per racing block b (default 30)."),
    max_blocks: Optional[int] = typer.Option(None, "--max-blocks", **bounds.flag("max_blocks"), help="Blocks per race z (default 10)."),
    max_shots: Optional[int] = typer.Option(None, "--max-shots", **bounds.flag("max_shots"), help="Most few-shot examples per prompt K (default 5)."),
    dev_size: Optional[int] = typer.Option(None, "--dev-size", **bounds.flag("dev_size"), help="Dev examples scored during the search (default 300)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", **bounds.flag("max_tokens"), help="Downstream completion cap (default 256)."),
    meta_max_tokens: Optional[int] = typer.Option(None, "--meta-max-tokens", **bounds.flag("max_tokens"), help="Meta-LLM completion cap (default 512)."),
    paper_compat: bool = typer.Option(False, "--paper-compat", help="Reproduce the reference implementation, bugs included."),
    renderer: Optional[str] = typer.Option(None, "--renderer", help="paper (default: the CAPO paper's format) or chat (examples as turns; small chat models follow it better)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    input_field: Optional[list[str]] = typer.Option(None, "--input-field", help="Input field(s) of a data file."),
    target_field: Optional[str] = typer.Option(None, "--target-field", help="Target field of a data file."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the response cache (no resume)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout."),
) -> None:
    """Optimize a prompt with CAPO (or a baseline) under a budget; write the best prompt as an artifact."""
    import asyncio

    from promptopt.budget import Budget
    from promptopt.llm.ledger import RoleUsage
    from promptopt.progress import retry_note
    from promptopt.optimization import OPTIMIZERS, aoptimize, config_from_options

    if optimizer not in OPTIMIZERS:
        raise typer.BadParameter(f"unknown optimizer '{optimizer}' (available: {', '.join(OPTIMIZERS)})", param_hint="--optimizer")
    if resume and no_cache:  # the replay would pay for every stored answer again and diverge on budget
        raise typer.BadParameter("--resume replays the journal from the response cache: drop --no-cache",
                                 param_hint="--no-cache")
    for flag, value in (("--judge-model", judge_model), ("--meta-judge-model", meta_judge_model),
                        ("--heldout-judge-model", heldout_judge_model)):
        if value is not None and optimizer != "mpo":
            raise typer.BadParameter(f"{flag} applies to --optimizer mpo only (judge-scored tasks)", param_hint=flag)
    resolved = _resolve_task(task, data_dir, input_field, target_field)
    try:
        config = config_from_options(
            optimizer, population=population, offspring=offspring, block_size=block_size,
            max_blocks=max_blocks, max_shots=max_shots, dev_size=dev_size, paper_compat=paper_compat or None,
            renderer=renderer, max_tokens=max_tokens, meta_max_tokens=meta_max_tokens,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    budget = Budget.from_options(
        tokens=budget_tokens, usd=budget_usd, calls=max_calls, wall_time_s=max_time,
        generations=max_generations, no_improvement=no_improvement,
    )
    directory = run_dir or Path("runs") / f"{resolved.name}-seed{seed}"
    with _progress_view(enabled=not as_json and sys.stderr.isatty()) as update:
        result = asyncio.run(aoptimize(
            resolved, model=model, meta_model=meta_model, judge_model=judge_model, meta_judge_model=meta_judge_model,
            heldout_judge_model=heldout_judge_model, optimizer=optimizer, budget=budget, seed=seed, config=config,
            initial_prompts=prompt or (), run_dir=directory, resume=resume, out=out,
            cache=None if no_cache else "default", on_progress=update,
        ))
    summary = result.summary()
    if as_json:
        _emit_json({"run_dir": str(directory), "out": str(out) if out else None, **summary})
        return
    best = summary["best"]
    typer.echo(f"stopped: {result.stop_reason} after {result.generations} generation(s)")
    typer.echo(f"best: dev {best['dev_score']:.3f} (95% CI {best['dev_low']:.3f}-{best['dev_high']:.3f}, "
               f"n={best['dev_n']}), {best['tokens']} prompt tokens, {best['examples']} few-shot example(s)")
    typer.echo(f"instruction: {best['instruction']}")
    typer.echo(f"{optimizer}: {summary['racing']['block_evaluations']} of {summary['racing']['full_block_evaluations']} "
               f"block evaluations ({100 * summary['racing']['saved']:.0f}% saved by racing); Pareto front: {len(result.front)} prompt(s)")
    for role, usage in summary["spend"].items():
        retried = retry_note(RoleUsage.from_dict(usage), prefix=" ")
        typer.echo(f"spend {role}: {usage['total_tokens']:,} tokens, {usage['requests']} calls{retried}, "
                   f"{usage['cache_hits']} cache hits")
    typer.echo(f"run directory: {directory}" + (f" | artifact: {out}" if out else ""))


@plan_app.command("bench")
def plan_bench(
    suite: str = typer.Option("test24", "--suite", help="test24, household10 or dev100."),
    agents: str = typer.Option("greedy,greedy-pair,claims,oracle", "--agents",
                               help="Comma-separated teams: random, greedy, greedy-pair, claims, oracle."),
    comm: str = typer.Option("free", "--comm", help="Communication cost policy: free, tdw or meeting."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
) -> None:
    """Run scripted teams on a frozen suite and print transport rates, anytime rates and diagnostics."""
    from promptopt.planners.scripted import bench

    names = [name.strip() for name in agents.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("name at least one team", param_hint="--agents")
    try:
        result = bench(suite, names, comm=comm)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\""), param_hint="--suite/--agents/--comm") from None
    if as_json:
        _emit_json(result.to_json())
    else:
        typer.echo(result.table())


from promptopt.planners.cli import plan_run  # noqa: E402  (light: typer only; the work is imported inside)

plan_app.command("run")(plan_run)


from promptopt.benchmark.cli import bench_command  # noqa: E402  (light: typer only; the work is imported inside)

app.command("bench")(bench_command)


from promptopt.judging.cli import rubric_app  # noqa: E402  (light: typer only; the work is imported inside)

app.add_typer(rubric_app, name="rubric")


class _RedactingStream:
    """stdout/stderr with every known secret masked in what is written (see
    :mod:`promptopt.redact`): one place covers echo, rich, logging and warnings."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from promptopt.redact import redact

        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _warnings_as_lines() -> None:
    """Python warnings (a torn journal line, URL credentials) as one ``warning: ...`` line each,
    each distinct message once."""
    import warnings

    shown: set[str] = set()

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = str(message)
        if text not in shown:
            shown.add(text)
            typer.echo(f"warning: {_one_line(text)}", err=True)

    warnings.showwarning = show


def _log_to_stderr() -> None:
    """promptopt's warnings (e.g. a restarted model worker) as one ``warning: ...`` line each."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logging.addLevelName(logging.WARNING, "warning")
    logging.addLevelName(logging.ERROR, "error")
    logger = logging.getLogger("promptopt")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


#: Every character ``str.splitlines`` breaks at, shown escaped (``\n``, ``\x1c``, ``\u2028``, ...).
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(text: str) -> str:
    """A message as one line: a line break in it (from a value the user typed, such as a task
    name with a newline) is shown escaped, so each ``error:``/``warning:`` stays one line."""
    return text.translate(_LINE_BREAKS)


def main() -> None:
    """Entry point: user errors print one clear line without a traceback and exit non-zero
    (2 for bad input data, as for bad flags; 1 for everything else)."""
    sys.stdout, sys.stderr = _RedactingStream(sys.stdout), _RedactingStream(sys.stderr)  # type: ignore[assignment]
    _log_to_stderr()
    _warnings_as_lines()
    try:
        code = app(standalone_mode=False)
    except PromptoptError as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except OSError as exc:  # a disk or system error no command turned into a message: one line
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"error: {_one_line(f'{where}{exc.strerror or exc}')}", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # a bad flag or value: one line (not a boxed panel), exit 2
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        typer.echo(f"error: {_one_line(exc.format_message())}{hint}", err=True)  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
