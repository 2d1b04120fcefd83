"""``promptopt optimize``: one optimization run from flags, through ``aoptimize``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt.cli.app import app, emit_json
from promptopt.cli.groups import command
from promptopt.cli.inputs import resolve_task
from promptopt.cli.options import BudgetLimits, CacheChoice, Json, RunOutputs, TaskSource
from promptopt.settings import ModelRoles, SearchOptions

OPTIMIZER_HELP = ("capo (default), opro, evoprompt-ga, evoprompt-de, initial (best initial prompt, no search) or "
                  "mpo (judge-scored tasks: CAPO with an evolving rubric).")


class _RunView:
    """The live view of an optimize run on stderr: a request bar (sent, cached, failed and retried
    requests against the preflight estimate of the whole run) and a status line (generation,
    alive, eliminations, best dev score, spend per role). Off for --json and when stderr is not a
    terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.expected: int | None = None
        self._bar: Any = None
        self._task: Any = None
        self._status: Any = None

    def __enter__(self) -> "_RunView":
        if not self.enabled:
            return self
        from rich.console import Console, Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.text import Text

        self._bar = Progress(TextColumn("requests"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                             TextColumn("{task.fields[detail]}"))
        self._task = self._bar.add_task("requests", total=None, detail="")
        self._status = Text("starting ...")
        self._live = Live(Group(self._bar, self._status), console=Console(stderr=True), refresh_per_second=4)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._live.__exit__(*exc)

    def preflight(self, estimate: Any, plan: Any) -> None:
        print_estimate(estimate, plan, as_json=False,
                       echo=lambda line: self._live.console.print(line, markup=False, highlight=False))
        self.expected = estimate.expected_requests(plan)

    def requests(self, usage: Any) -> None:
        """Every charged request: the bar counts logical requests (sent or cached)."""
        if not self.enabled:
            return
        from promptopt.progress import request_note

        done = usage.asked + usage.cache_hits
        total = max(self.expected, done) if self.expected is not None else None
        self._bar.update(self._task, completed=done, total=total, detail=request_note(usage))

    def progress(self, event: Any) -> None:
        if not self.enabled:
            return
        from promptopt.progress import spend_line

        best = "-" if event.best_score is None else f"{event.best_score:.3f}"
        self._status.plain = (f"generation {event.generation} ({event.phase}) | alive {event.alive} | "
                              f"eliminated {event.eliminated} | best dev {best} | {spend_line(event.spend)}")


def print_estimate(estimate: Any, plan: Any, *, as_json: bool, err: bool = False, echo: Any = None) -> None:
    """The preflight estimate: lines for a person (stderr during a run, or through ``echo``), or
    JSON (``--dry-run --json``)."""
    say = echo or (lambda line: typer.echo(line, err=err))
    if as_json:
        emit_json({"estimate": estimate.to_dict() if estimate else None,
                   "generations": list(estimate.generations(plan) or ()) if estimate else None,
                   "shortfall": estimate.shortfall(plan) if estimate else None})
        return
    if estimate is None:
        say("preflight: this optimizer gives no estimate")
        return
    for line in estimate.lines(plan):
        say(line)
    shortfall = estimate.shortfall(plan)
    if shortfall is not None:
        say(f"preflight: {shortfall}")


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
    outputs: RunOutputs = RunOutputs(),
    seed: Annotated[int, typer.Option("--seed", help="Random seed: data splits, blocks, operators, sampling.")] = 42,
    cache: CacheChoice = CacheChoice(),
    as_json: Json = False,
) -> None:
    """Optimize a prompt with CAPO (or a baseline) under a budget; write the best prompt as an artifact.

    Before the first request it prints what the budget buys (requests and tokens per generation)
    and refuses a budget that cannot pay for one generation. The run directory defaults to
    runs/TASK-seedS. A flag that does not apply to the optimizer is an error.
    """
    import asyncio

    from promptopt.optimization import aestimate, aoptimize

    out, run_dir, resume, report = outputs.out, outputs.run_dir, outputs.resume, outputs.report
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
                                run_dir=directory, resume=resume, out=out, force=budget.force)
    if budget.dry_run:
        estimate, plan = asyncio.run(aestimate(resolved, settings=settings))
        print_estimate(estimate, plan, as_json=as_json)
        return
    with _RunView(enabled=not as_json and sys.stderr.isatty()) as view:
        show = None if as_json else (view.preflight if view.enabled else
                                     (lambda estimate, plan: print_estimate(estimate, plan, as_json=False, err=True)))
        result = asyncio.run(aoptimize(resolved, settings=settings, cache=cache.choice(), on_preflight=show,
                                       on_progress=view.progress if view.enabled else None,
                                       on_requests=view.requests if view.enabled else None))
    summary = result.summary()
    written = None
    if report:
        from promptopt.report import write_report

        written = str(write_report(directory))
    if as_json:
        emit_json({"run_dir": str(directory), "out": str(out) if out else None, "report": written, **summary})
        return
    _print_summary(result, summary, optimizer, directory, out)
    if written:
        typer.echo(f"report: {written}")


def _print_preflight(report: Optional[dict[str, Any]]) -> None:
    """The preflight estimate next to what was spent (generation 0, and per later generation)."""
    if not report:
        return
    estimate, actual = report["estimate"], report["actual"]
    first = estimate["initial"]
    typer.echo(f"preflight vs actual: generation 0 {first['requests']:,} requests estimated, "
               f"{actual['initial']['requests']:,} sent ({actual['initial']['tokens']:,} tokens)")
    per = actual["per_generation"]
    if per:
        low, high = estimate["generation_low"]["requests"], estimate["generation_high"]["requests"]
        typer.echo(f"preflight vs actual: a later generation {low:,}-{high:,} requests estimated, "
                   f"{per['requests']:,.1f} sent on average ({per['tokens']:,.0f} tokens) over {actual['generations']}")


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
        cost = "USD unknown (no price)" if usage["usd"] is None else f"${usage['usd']:,.4f}"
        typer.echo(f"spend {role}: {usage['total_tokens']:,} tokens, {usage['requests']} calls{retried}, "
                   f"{usage['cache_hits']} cache hits, {cost}")
    _print_preflight(summary.get("preflight"))
    typer.echo(f"run directory: {directory}" + (f" | artifact: {out}" if out else ""))
