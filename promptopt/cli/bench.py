"""``promptopt bench``: optimizers × tasks × seeds at one token budget; CSV, table and plot."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt.benchmark.plan import BenchSettings
from promptopt.cli.app import app, emit_json
from promptopt.cli.groups import command, group
from promptopt.cli.inputs import parse_names
from promptopt.cli.options import (
    BudgetTokens,
    CellWorkers,
    DataDir,
    Json,
    MetaModel,
    Model,
    Preflight,
    Resume,
    Seeds,
    seed_list,
)
from promptopt.errors import PromptoptError

DEFAULT_OPTIMIZERS = "capo,opro,evoprompt-ga,evoprompt-de,initial"


@dataclass(frozen=True)
class Grid:
    """The cells of a benchmark: every optimizer on every task with every seed."""

    optimizers: str = DEFAULT_OPTIMIZERS
    tasks: str = "sst2,subj,agnews"
    seeds: str = "42,43,44"


group(Grid, {
    "optimizers": Annotated[str, typer.Option("--optimizers", help="Comma-separated optimizer names.")],
    "tasks": Annotated[str, typer.Option("--tasks", help="Comma-separated task names (see 'promptopt tasks').")],
    "seeds": Seeds,
})


def _optimizers(value: str) -> tuple[str, ...]:
    from promptopt.optimizers.registry import check_name

    try:
        return tuple(check_name(name) for name in parse_names(value, "--optimizers"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--optimizers") from None


def _load_tasks(names: tuple[str, ...], data_dir: Optional[Path]) -> dict[str, Any]:
    from promptopt.tasks.registry import load_task, resolve_data_dir

    directory = resolve_data_dir(data_dir)  # a missing --data-dir is reported as such
    tasks = {}
    for name in names:
        try:
            tasks[name] = load_task(name, data_dir=directory)
        except PromptoptError as exc:
            raise typer.BadParameter(f"task '{name}': {exc}", param_hint="--tasks") from None
    return tasks


class _LiveView:
    """A live bar on stderr with lines printed above it; without the bar, the lines alone."""

    enabled: bool
    _bar: Any

    def say(self, line: str) -> None:
        if self.enabled:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            typer.echo(line, err=True)


class _BenchView(_LiveView):
    """The live view of a grid on stderr: one request bar for the whole grid (sent and cached
    requests of the cells run now, against the preflight estimate of those cells), with the
    running cell and its sent, cached, failed and retried requests; finished cells print a line
    above it. Off for --json and when stderr is not a terminal (the lines still print)."""

    def __init__(self, enabled: bool, cells: int, expected: int | None) -> None:
        self.enabled, self.cells, self.expected = enabled, cells, expected
        self.finished_cells = self.finished_requests = self.current = 0

    def __enter__(self) -> "_BenchView":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("requests"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[detail]}"), console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("requests", total=self.expected, detail=f"0/{self.cells} cells")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)

    def requests(self, cell: Any, usage: Any) -> None:
        from promptopt.progress import request_note

        self.current = usage.asked + usage.cache_hits
        if self.enabled:
            done = self.finished_requests + self.current
            total = None if self.expected is None else max(self.expected, done)
            self._bar.update(self._task, completed=done, total=total,
                             detail=f"cell {self.finished_cells + 1}/{self.cells} {cell.task} {cell.optimizer} "
                                    f"seed {cell.seed}: {request_note(usage)}")

    def cell_done(self) -> None:
        self.finished_cells += 1
        self.finished_requests += self.current
        self.current = 0


class _GridView(_LiveView):
    """The live view of a grid whose cells run elsewhere (worker processes, Ray tasks): one bar of
    cells done, with how many are running and resumed and the spend so far, read from the cells'
    folders every second (:func:`~promptopt.benchmark.grid_status.grid_status`)."""

    def __init__(self, enabled: bool, out: Path, cells: list[Any]) -> None:
        self.enabled, self.out, self.cells = enabled, out, cells
        self.finished_cells = 0

    def __enter__(self) -> "_GridView":
        if self.enabled:
            import threading

            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("cells"), BarColumn(), TextColumn("{task.fields[detail]}"),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("cells", total=len(self.cells), detail="")
            self._stop = threading.Event()
            self._poller = threading.Thread(target=self._poll, daemon=True)
            self._poller.start()
        return self

    def _poll(self) -> None:
        from promptopt.benchmark.grid_status import grid_status
        from promptopt.benchmark.harness import HEARTBEAT_S

        while True:
            status = grid_status(self.out, self.cells, HEARTBEAT_S)
            self._bar.update(self._task, completed=status.done, detail=status.line())
            if self._stop.wait(1.0):
                return

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._stop.set()
            self._poller.join()
            self._bar.__exit__(*exc)

    def requests(self, cell: Any, usage: Any) -> None:
        """Cells running elsewhere charge no ledger here: their folders say what they spent."""

    def cell_done(self) -> None:
        self.finished_cells += 1


def _preflight(harness: Any, *, dry_run: bool, force: bool, as_json: bool) -> int | None:
    """Print what the budget buys per task × optimizer (stdout for --dry-run, else stderr) and
    refuse, before any request, a budget that cannot pay for one generation of one of them."""
    import asyncio

    from promptopt.budget import Budget
    from promptopt.errors import UsageError

    estimates = asyncio.run(harness.preflight())
    budget = Budget.from_options(tokens=harness.plan.budget_tokens)
    reasons = {cell: e.shortfall(budget) if e is not None else None for cell, e in estimates}
    short = [(cell, reason) for cell, reason in reasons.items() if reason]
    if as_json and dry_run:
        emit_json({"cells": [{"task": c.task, "optimizer": c.optimizer, "estimate": e.to_dict() if e else None,
                              "generations": list(e.generations(budget) or ()) if e else None,
                              "shortfall": reasons[c]} for c, e in estimates]})
    elif not as_json:
        for cell, estimate in estimates:
            if estimate is None:
                continue
            first, cheap, dear = estimate.initial, estimate.generation_low, estimate.generation_high
            later = "no search after it"
            if dear.requests:
                low, high = estimate.generations(budget) or (0, None)
                span = f"{cheap.requests:,}" if cheap.requests == dear.requests else f"{cheap.requests:,}-{dear.requests:,}"
                later = f"each later generation {span} requests: about {low}-{high} generations"
            typer.echo(f"preflight {cell.task} {cell.optimizer}: generation 0 {first.requests:,} requests "
                       f"({first.tokens_low:,}-{first.tokens_high:,} tokens), {later}", err=not dry_run)
    if short and not force and not dry_run:
        names = "; ".join(f"{cell.task} {cell.optimizer}: {reason}" for cell, reason in short)
        raise UsageError(f"{names}: raise --budget-tokens, or pass --force to run anyway")
    # the requests the cells still to run will send, about: what the request bar counts against
    per_cell = {(c.task, c.optimizer): e.expected_requests(budget) if e else None for c, e in estimates}
    pending = [per_cell.get((c.task, c.optimizer)) for c in harness.plan.cells() if harness.stored(c) is None]
    return None if any(n is None for n in pending) else sum(pending)


@app.command("bench")
@command
def bench_command(
    grid: Grid,
    budget_tokens: BudgetTokens,
    settings: BenchSettings,
    model: Model = "local",
    meta_model: MetaModel = None,
    data_dir: DataDir = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: a run directory per cell, CSV, table.md, plot.png.")] = Path("runs/bench"),
    resume: Resume = False,
    initial_prompts: Annotated[Optional[Path], typer.Option("--initial-prompts", help="JSON file: {task: [instruction, ...]}; other tasks use built-in or derived prompts.")] = None,
    preflight: Preflight = Preflight(),
    workers: CellWorkers = CellWorkers(),
    as_json: Json = False,
) -> None:
    """Compare optimizers: optimizers × tasks × seeds at one token budget; CSV, table and plot.

    Each search option applies to every optimizer of the grid that has it (one of them at least).
    Before the first request it prints what the budget buys in each task × optimizer, and refuses
    a budget that cannot pay for one generation of one of them (--force runs anyway).
    """
    import asyncio

    from promptopt.benchmark.harness import Harness
    from promptopt.benchmark.plan import BenchPlan, load_initial_prompts
    from promptopt.benchmark.report import header_of, markdown_table, results_json, summarize, summary_line, write_report

    from promptopt.executors import ExecutorSpec

    spec = ExecutorSpec.parse(workers.executor or "serial")
    optimizer_names = _optimizers(grid.optimizers)
    task_names = parse_names(grid.tasks, "--tasks")
    seed_values = seed_list(grid.seeds)
    try:
        settings.check_applies(optimizer_names)
        if settings.renderer is not None:
            from promptopt.prompt import renderer_for

            renderer_for(settings.renderer)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    loaded = _load_tasks(task_names, data_dir)
    plan = BenchPlan(
        optimizers=optimizer_names, tasks=task_names, seeds=seed_values, budget_tokens=budget_tokens,
        model="local" if model is None else model, meta_model=meta_model, settings=settings,
        initial_prompts=load_initial_prompts(initial_prompts) if initial_prompts else {},
    )
    harness = Harness(plan, out, tasks=loaded, resume=resume)
    harness.check_output()
    expected = _preflight(harness, dry_run=preflight.dry_run, force=preflight.force, as_json=as_json)
    if preflight.dry_run:
        return
    total = len(list(plan.cells()))
    # the request bar follows cells that run in this process; cells that run elsewhere are
    # followed through their folders
    live = not as_json and sys.stderr.isatty()
    cells = list(plan.cells())
    view: Any = _BenchView(live, total, expected) if spec.kind == "serial" else _GridView(live, out, cells)
    with view:

        def finished(cell: Any, reused: bool) -> None:
            view.cell_done()
            if not as_json:
                how = "reused" if reused else f"{cell.wall_s:.0f}s"
                view.say(
                    f"[{view.finished_cells}/{total}] {cell.task} {cell.optimizer} seed {cell.seed}: test "
                    f"{cell.test_score:.3f} dev {cell.dev_score:.3f} | {cell.prompt_tokens} prompt tokens | "
                    f"{cell.tokens:,} tokens, {cell.calls} calls | {cell.stop_reason} ({how})"
                )

        result = asyncio.run(harness.run(on_done=finished, on_requests=view.requests, executor=spec,
                                         ship=workers.ship_results))
    if result.stale:
        typer.echo(
            f"note: {len(result.stale)} reused cell(s) were measured by other promptopt code "
            f"({', '.join(result.stale[:3])}{', ...' if len(result.stale) > 3 else ''}); "
            "another --out measures this code",
            err=True,
        )
    files = write_report(result)
    rows = summarize(result.cells)
    if as_json:
        emit_json({**results_json(result, rows), "files": {name: str(path) for name, path in files.items()}})
        return
    typer.echo(markdown_table(rows, header=header_of(result)), nl=False)
    typer.echo(f"files: {', '.join(str(p) for p in files.values())}")
    typer.echo(summary_line(rows))
