"""``promptopt optimize``: one optimization run from flags, through ``aoptimize``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt.cli.app import app, emit_json
from promptopt.cli.groups import command
from promptopt.cli.inputs import resolve_task
from promptopt.cli.options import BudgetLimits, CacheChoice, Json, Resume, RunDirectory, TaskSource
from promptopt.settings import ModelRoles, SearchOptions

OPTIMIZER_HELP = ("capo (default), opro, evoprompt-ga, evoprompt-de, initial (best initial prompt, no search) or "
                  "mpo (judge-scored tasks: CAPO with an evolving rubric).")


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

        from promptopt.progress import spend_line

        with Live(Text("starting ..."), console=Console(stderr=True), refresh_per_second=4, transient=False) as live:

            def update(event: Any) -> None:
                best = "-" if event.best_score is None else f"{event.best_score:.3f}"
                live.update(Text(
                    f"generation {event.generation} ({event.phase}) | alive {event.alive} | "
                    f"eliminated {event.eliminated} | best dev {best} | {spend_line(event.spend)}"
                ))

            yield update

    return view()


def _config(models: ModelRoles, search: SearchOptions, optimizer: str) -> Any:
    """The optimizer's config from the flags; a flag that does not apply to it is a usage error."""
    for flag in models.judge_flags_given():
        if optimizer != "mpo":
            raise typer.BadParameter(f"{flag} applies to --optimizer mpo only (judge-scored tasks)", param_hint=flag)
    try:
        search.check_applies((optimizer,))
        return search.config_for(optimizer)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("optimize")
@command
def optimize_command(
    task: TaskSource,
    models: ModelRoles,
    budget: BudgetLimits,
    search: SearchOptions,
    optimizer: Annotated[str, typer.Option("--optimizer", help=OPTIMIZER_HELP)] = "capo",
    prompt: Annotated[Optional[list[str]], typer.Option("--prompt", help="An initial instruction (repeatable); fewer than 2 are completed by the meta-LLM.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the best prompt's artifact here (e.g. prompts/T.json).")] = None,
    run_dir: RunDirectory = None,
    resume: Resume = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: data splits, blocks, operators, sampling.")] = 42,
    cache: CacheChoice = CacheChoice(),
    as_json: Json = False,
) -> None:
    """Optimize a prompt with CAPO (or a baseline) under a budget; write the best prompt as an artifact.

    The run directory defaults to runs/TASK-seedS. A flag that does not apply to the optimizer is an error.
    """
    import asyncio

    from promptopt.optimization import aoptimize
    from promptopt.optimizers.registry import check_name
    from promptopt.settings import OptimizeSettings

    try:
        check_name(optimizer)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--optimizer") from None
    if resume and cache.no_cache:  # the replay would pay for every stored answer again and diverge on budget
        raise typer.BadParameter("--resume replays the journal from the response cache: drop --no-cache",
                                 param_hint="--no-cache")
    resolved = resolve_task(task)
    directory = run_dir or Path("runs") / f"{resolved.name}-seed{seed}"
    settings = OptimizeSettings(models=models, optimizer=optimizer, config=_config(models, search, optimizer),
                                budget=budget.budget(), seed=seed, initial_prompts=tuple(prompt or ()),
                                run_dir=directory, resume=resume, out=out)
    with _progress_view(enabled=not as_json and sys.stderr.isatty()) as update:
        result = asyncio.run(aoptimize(resolved, settings=settings, cache=cache.choice(), on_progress=update))
    summary = result.summary()
    if as_json:
        emit_json({"run_dir": str(directory), "out": str(out) if out else None, **summary})
        return
    _print_summary(result, summary, optimizer, directory, out)


def _print_summary(result: Any, summary: dict[str, Any], optimizer: str, directory: Path, out: Optional[Path]) -> None:
    from promptopt.llm.ledger import RoleUsage
    from promptopt.progress import retry_note

    best = summary["best"]
    racing = summary["racing"]
    typer.echo(f"stopped: {result.stop_reason} after {result.generations} generation(s)")
    typer.echo(f"best: dev {best['dev_score']:.3f} (95% CI {best['dev_low']:.3f}-{best['dev_high']:.3f}, "
               f"n={best['dev_n']}), {best['tokens']} prompt tokens, {best['examples']} few-shot example(s)")
    typer.echo(f"instruction: {best['instruction']}")
    typer.echo(f"{optimizer}: {racing['block_evaluations']} of {racing['full_block_evaluations']} "
               f"block evaluations ({100 * racing['saved']:.0f}% saved by racing); Pareto front: {len(result.front)} prompt(s)")
    for role, usage in summary["spend"].items():
        retried = retry_note(RoleUsage.from_dict(usage), prefix=" ")
        typer.echo(f"spend {role}: {usage['total_tokens']:,} tokens, {usage['requests']} calls{retried}, "
                   f"{usage['cache_hits']} cache hits")
    typer.echo(f"run directory: {directory}" + (f" | artifact: {out}" if out else ""))
