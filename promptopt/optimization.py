"""``promptopt.optimize``: one call from a task and a model spec to an optimized prompt.

Builds the clients (downstream and meta share one endpoint, cache and ledger when they are the same
spec), the budget and the run directory, runs the optimizer, and writes the best prompt as an
artifact. The CLI's ``promptopt optimize`` is a thin layer over :func:`aoptimize`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from promptopt.budget import Budget
from promptopt.llm.cache import ResponseCache
from promptopt.llm.connection import connect
from promptopt.optimizers.capo import CAPO, CAPOConfig, OptimizationResult, Progress
from promptopt.runs import RunDir
from promptopt.tasks.task import Task

OPTIMIZERS = ("capo",)
#: Config keys that may change when a run is resumed (raising a budget is the usual reason).
RESUMABLE_KEYS = ("budget",)


def _budget(budget: Budget | int | None) -> Budget:
    """A Budget as given; a token count (or None) also stops after 5 generations without a
    better best, so a run that has converged, or whose population collapsed, ends by itself."""
    if isinstance(budget, Budget):
        return budget
    return Budget.from_options(tokens=budget, no_improvement=5)


async def aoptimize(
    task: str | Task,
    *,
    model: str = "local",
    meta_model: str | None = None,
    optimizer: str = "capo",
    budget: Budget | int | None = None,
    seed: int = 42,
    config: CAPOConfig | None = None,
    initial_prompts: Sequence[str] = (),
    run_dir: str | Path | None = None,
    resume: bool = False,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    cache: ResponseCache | None | Literal["default"] = "default",
    on_progress: Callable[[Progress], None] | None = None,
) -> OptimizationResult:
    """Optimize a prompt for ``task`` on ``model``; see :func:`optimize`."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{optimizer}' (available: {', '.join(OPTIMIZERS)})")
    if isinstance(task, str):
        from promptopt.tasks.registry import load_task

        task = load_task(task, data_dir=data_dir)
    config = config or CAPOConfig()
    plan = _budget(budget)
    meta_spec = meta_model or model
    shared_cache = ResponseCache() if cache == "default" else cache
    directory = None
    if run_dir is not None:
        directory = RunDir(run_dir)
        settings = {
            "optimizer": optimizer,
            "task": task.name,
            "task_fingerprint": task.fingerprint(),
            "model": model,
            "meta_model": meta_spec,
            "seed": seed,
            "config": config.to_dict(),
            "initial_prompts": list(initial_prompts),
            "budget": plan.to_dict(),
        }
        if resume and directory.config_path.exists():
            directory.check_resume(settings, resumable=RESUMABLE_KEYS)
            if directory.read_config().get("budget") != settings["budget"]:
                # a changed budget continues the search: re-derive from where it stopped
                directory.truncate_before("stop")
        else:  # a fresh run (``resume`` on an empty directory simply starts one)
            directory.ensure_fresh()
        directory.write_config(settings)
    downstream = connect(model, role="downstream", cache=shared_cache, seed=seed)
    meta = (
        downstream.with_role("meta")
        if meta_spec == model
        else connect(meta_spec, role="meta", cache=shared_cache, ledger=downstream.ledger, seed=seed)
    )
    try:
        result = await CAPO(
            task,
            downstream,
            meta,
            config=config,
            seed=seed,
            budget=plan,
            run_dir=directory,
            initial_prompts=initial_prompts,
            model_spec=model,
            on_progress=on_progress,
        ).run()
    finally:
        await downstream.aclose()
        if meta.backend is not downstream.backend:
            await meta.aclose()
    if out is not None:
        from promptopt.artifact import Artifact

        source = result.artifacts.get("best")
        if source is None:
            raise RuntimeError("no best artifact was written (pass run_dir to keep one)")
        Artifact.load(source).save(out)
    return result


def optimize(task: str | Task, **options: Any) -> OptimizationResult:
    """Optimize a prompt (blocking). Example::

        result = promptopt.optimize("demo_sentiment", model="local", budget=50_000, seed=1,
                                    run_dir="runs/demo", out="prompts/demo.json")
        print(result.best.instruction, result.best_score.value)

    ``budget`` is a token count (all roles) or a :class:`promptopt.budget.Budget`; ``model`` and
    ``meta_model`` are model specs (``meta_model`` defaults to ``model``).
    """
    return asyncio.run(aoptimize(task, **options))
