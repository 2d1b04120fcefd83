"""``promptopt bench``: the optimizer table from the command line.

Importing this module is cheap (typer only): ``promptopt --help`` imports it to list the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from promptopt import bounds
from promptopt.bounds import DEFAULT_NO_IMPROVEMENT

DEFAULT_OPTIMIZERS = "capo,opro,evoprompt-ga,evoprompt-de,initial"


def _names(value: str, flag: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not names:
        raise typer.BadParameter("give at least one comma-separated name", param_hint=flag)
    return names


def _seeds(value: str) -> tuple[int, ...]:
    seeds = []
    for part in _names(value, "--seeds"):
        try:
            seeds.append(int(part))
        except ValueError:
            raise typer.BadParameter(f"'{part}' is not an integer seed", param_hint="--seeds") from None
    return tuple(seeds)


def _check_optimizers(names: tuple[str, ...]) -> None:
    from promptopt.benchmark.configs import available_optimizers, config_class

    known = available_optimizers()
    for name in names:
        if name not in known:
            raise typer.BadParameter(
                f"unknown optimizer '{name}' (available: {', '.join(known)})", param_hint="--optimizers"
            )
        try:
            config_class(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--optimizers") from None


def _load_tasks(names: tuple[str, ...], data_dir: Optional[Path]) -> dict[str, Any]:
    from promptopt.errors import PromptoptError
    from promptopt.tasks.registry import load_task, resolve_data_dir

    directory = resolve_data_dir(data_dir)  # a missing --data-dir is reported as such
    tasks = {}
    for name in names:
        try:
            tasks[name] = load_task(name, data_dir=directory)
        except PromptoptError as exc:
            raise typer.BadParameter(f"task '{name}': {exc}", param_hint="--tasks") from None
    return tasks


def bench_command(
    optimizers: str = typer.Option(DEFAULT_OPTIMIZERS, "--optimizers", help="Comma-separated optimizer names."),
    tasks: str = typer.Option("sst2,subj,agnews", "--tasks", help="Comma-separated task names (see 'promptopt tasks')."),
    seeds: str = typer.Option("42,43,44", "--seeds", help="Comma-separated seeds; each optimizer runs once per task and seed."),
    budget_tokens: int = typer.Option(..., "--budget-tokens", min=1, help="Token budget of every cell (all roles)."),
    model: str = typer.Option("local", "--model", "-m", help="Model spec of downstream and meta model (see 'promptopt optimize --help')."),
    meta_model: Optional[str] = typer.Option(None, "--meta-model", help="Model spec for the meta-LLM (default: --model)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with one sub-folder per task holding dev.jsonl and test.jsonl (default: $PROMPTOPT_DATA_DIR)."),
    out: Path = typer.Option(Path("runs/bench"), "--out", "-o", help="Output folder: a run directory per cell, CSV, table.md, plot.png."),
    resume: bool = typer.Option(False, "--resume", help="Reuse finished cells in --out and continue interrupted ones."),
    test_limit: Optional[int] = typer.Option(None, "--test-limit", min=1, help="Score best prompts on the first N test examples only."),
    initial_prompts: Optional[Path] = typer.Option(None, "--initial-prompts", help="JSON file: {task: [instruction, ...]}; other tasks use built-in or derived prompts."),
    population: Optional[int] = typer.Option(None, "--population", **bounds.flag("population", low=2), help="Population size of every optimizer that has one."),
    offspring: Optional[int] = typer.Option(None, "--offspring", **bounds.flag("offspring"), help="New candidates per generation (CAPO c, EvoPrompt-GA children, OPRO proposals)."),
    dev_size: Optional[int] = typer.Option(None, "--dev-size", **bounds.flag("dev_size"), help="Dev examples scored during the search."),
    block_size: Optional[int] = typer.Option(None, "--block-size", **bounds.flag("block_size"), help="Examples per racing block (CAPO)."),
    max_shots: Optional[int] = typer.Option(None, "--max-shots", **bounds.flag("max_shots"), help="Most few-shot examples per prompt (CAPO)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", **bounds.flag("max_tokens"), help="Downstream completion cap (default 256)."),
    meta_max_tokens: Optional[int] = typer.Option(None, "--meta-max-tokens", **bounds.flag("max_tokens"), help="Meta-LLM completion cap."),
    renderer: Optional[str] = typer.Option(None, "--renderer", help="paper or chat (small chat models follow chat better)."),
    no_improvement: int = typer.Option(DEFAULT_NO_IMPROVEMENT, "--no-improvement", min=1, help="Also stop a cell after this many generations without a better best."),
    answer_tags: bool = typer.Option(True, "--answer-tags/--no-answer-tags", help="--no-answer-tags: count a label written anywhere in the reply, without the task's answer tags (small models rarely write tags zero-shot)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
) -> None:
    """Compare optimizers: optimizers × tasks × seeds at one token budget; CSV, table and plot."""
    import asyncio

    from promptopt.benchmark.harness import Harness
    from promptopt.benchmark.plan import BenchPlan, BenchSettings, load_initial_prompts
    from promptopt.benchmark.report import header_of, markdown_table, results_json, summarize, summary_line, write_report
    from promptopt.progress import progress_bar

    optimizer_names = _names(optimizers, "--optimizers")
    _check_optimizers(optimizer_names)
    task_names = _names(tasks, "--tasks")
    seed_values = _seeds(seeds)
    if renderer is not None:
        from promptopt.prompt import renderer_for

        try:
            renderer_for(renderer)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--renderer") from None
    loaded = _load_tasks(task_names, data_dir)
    plan = BenchPlan(
        optimizers=optimizer_names, tasks=task_names, seeds=seed_values, budget_tokens=budget_tokens,
        model=model, meta_model=meta_model,
        settings=BenchSettings(
            population=population, offspring=offspring, dev_size=dev_size, block_size=block_size, max_shots=max_shots,
            max_tokens=max_tokens, meta_max_tokens=meta_max_tokens, renderer=renderer, test_limit=test_limit,
            no_improvement=no_improvement, answer_tags=answer_tags,
        ),
        initial_prompts=load_initial_prompts(initial_prompts) if initial_prompts else {},
    )
    harness = Harness(plan, out, tasks=loaded, resume=resume)
    harness.check_output()
    total = len(list(plan.cells()))
    with progress_bar(f"bench: {total} cells", enabled=False if as_json else None) as update:
        done = 0
        update(0, total)

        def finished(cell: Any, reused: bool) -> None:
            nonlocal done
            done += 1
            update(done, total)
            if not as_json:
                how = "reused" if reused else f"{cell.wall_s:.0f}s"
                typer.echo(
                    f"[{done}/{total}] {cell.task} {cell.optimizer} seed {cell.seed}: test {cell.test_score:.3f} "
                    f"dev {cell.dev_score:.3f} | {cell.prompt_tokens} prompt tokens | {cell.tokens:,} tokens, "
                    f"{cell.calls} calls | {cell.stop_reason} ({how})",
                    err=True,
                )

        result = asyncio.run(harness.run(on_done=finished))
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
        data = {**results_json(result, rows), "files": {name: str(path) for name, path in files.items()}}
        typer.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
        return
    typer.echo(markdown_table(rows, header=header_of(result)), nl=False)
    typer.echo(f"files: {', '.join(str(p) for p in files.values())}")
    typer.echo(summary_line(rows))
