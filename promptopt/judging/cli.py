"""``promptopt rubric``: improve a judge rubric from a set of outputs, without prompt search.

Only typer is imported at module level: the command's modules load when it runs, so
``promptopt --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from promptopt import bounds

rubric_app = typer.Typer(help="Judge rubrics: refine one from a set of outputs.", no_args_is_help=True)

_MODEL_HELP = "Model spec (see 'promptopt generate --help'); judge and meta-judge default to it."


@rubric_app.command("refine")
def refine(
    task: str = typer.Option(..., "--task", "-t", help="Task name (built-in or from --data-dir)."),
    outputs: Path = typer.Option(..., "--outputs", help="JSONL: per line 'output' plus 'uid' or 'input'."),
    rubric: Optional[Path] = typer.Option(None, "--rubric", help="Start rubric (JSON); default the task's."),
    validation_rubric: Optional[Path] = typer.Option(
        None, "--validation-rubric",
        help="Frozen rubric that grades the anchors when the task has no references (JSON).",
    ),
    model: str = typer.Option("local", "--model", "-m", help=_MODEL_HELP),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge model spec."),
    meta_judge_model: Optional[str] = typer.Option(None, "--meta-judge-model", help="Meta-judge model spec."),
    rounds: int = typer.Option(1, "--rounds", **bounds.flag("rounds", low=1), help="Meta steps to run (re-judging after each change)."),
    samples: int = typer.Option(6, "--samples", **bounds.flag("samples"), help="Outputs the meta-judge analyses per step."),
    seed: int = typer.Option(0, "--seed", help="Seed of the output sampling."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the final rubric here (JSON)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Keep every rubric version and decision here."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder of task data (dev.jsonl/test.jsonl)."),
    cache_path: Optional[Path] = typer.Option(None, "--cache", help="Response cache file."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Judge the outputs, let the meta-judge propose a rubric, and keep it only if the gate accepts."""
    import asyncio

    from promptopt.judging.refine_outputs import refine_from_outputs

    summary = asyncio.run(
        refine_from_outputs(
            task,
            outputs,
            start_rubric=rubric,
            validation_rubric=validation_rubric,
            model=model,
            judge_model=judge_model,
            meta_judge_model=meta_judge_model,
            rounds=rounds,
            samples=samples,
            seed=seed,
            out=out,
            run_dir=run_dir,
            data_dir=data_dir,
            cache_path=cache_path,
            no_cache=no_cache,
        )
    )
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False))
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
