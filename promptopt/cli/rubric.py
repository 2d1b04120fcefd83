"""``promptopt rubric refine``: one or more meta steps on a file of outputs, behind the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt import bounds
from promptopt.cli.app import emit_json, rubric_app
from promptopt.cli.groups import command
from promptopt.cli.inputs import resolve_task
from promptopt.cli.options import CacheChoice, Json, RunDirectory, TaskSource
from promptopt.settings import ModelRoles


@rubric_app.command("refine")
@command
def refine(
    task: TaskSource,
    outputs: Annotated[Path, typer.Option("--outputs", help="JSONL: per line 'output' plus 'uid' or 'input'.")],
    rubric: Annotated[Optional[Path], typer.Option("--rubric", help="Start rubric (JSON); default the task's.")] = None,
    validation_rubric: Annotated[Optional[Path], typer.Option("--validation-rubric", help="Frozen rubric that grades the anchors when the task has no references (JSON).")] = None,
    models: ModelRoles = ModelRoles(),
    rounds: Annotated[int, typer.Option("--rounds", **bounds.flag("rounds", low=1), help="Meta steps to run (re-judging after each change).")] = 1,
    samples: Annotated[int, typer.Option("--samples", **bounds.flag("samples"), help="Outputs the meta-judge analyses per step.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the output sampling.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the final rubric here (JSON).")] = None,
    run_dir: RunDirectory = None,
    cache: CacheChoice = CacheChoice(),
    as_json: Json = False,
) -> None:
    """Judge the outputs, let the meta-judge propose a rubric, and keep it only if the gate accepts.

    The judge defaults to --model, the meta-judge to --meta-model, else --model.
    """
    import asyncio

    from promptopt.optimizers.rubric_from_outputs import refine_from_outputs

    if models.heldout_judge_model is not None:
        raise typer.BadParameter("--heldout-judge-model applies to 'promptopt optimize --optimizer mpo' only",
                                 param_hint="--heldout-judge-model")
    specs = models.specs(judged=True)
    summary = asyncio.run(refine_from_outputs(
        resolve_task(task), outputs, start_rubric=rubric, validation_rubric=validation_rubric, model=models.model,
        judge_model=specs["judge"], meta_judge_model=specs["meta_judge"], rounds=rounds, samples=samples,
        seed=seed, out=out, run_dir=run_dir, cache=cache.choice(),
    ))
    if as_json:
        emit_json(summary)
        return
    _print(summary)


def _print(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"rubric refine: {summary['task']} ({summary['outputs']} outputs)")
    for column in ("round", "rubric", "outcome", "mean reward", "detail"):
        table.add_column(column)
    for step in summary["steps"]:
        table.add_row(
            str(step["round"]), f"v{step['rubric_version']}", step["outcome"], f"{step['mean_reward']:.3f}", step["detail"]
        )
    console.print(table)
    final = summary["final_rubric"]
    console.print(f"final rubric v{final['version']}:")
    for item in final["items"]:
        console.print(f"  - {item['name']} (max {item['max']}): {item['description']}")
    if summary.get("out"):
        console.print(f"written to {summary['out']}")
