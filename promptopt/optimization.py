"""``promptopt.optimize``: one call from a task and a model spec to an optimized prompt.

Builds the clients (downstream and meta share one endpoint, cache and ledger when they are the same
spec), the budget and the run directory, runs the optimizer, and writes the best prompt as an
artifact. The CLI's ``promptopt optimize`` is a thin layer over :func:`aoptimize`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from promptopt import preflight
from promptopt.bounds import DEFAULT_NO_IMPROVEMENT
from promptopt.budget import Budget
from promptopt.llm.cache import ResponseCache
from promptopt.llm.client import LLMClient
from promptopt.llm.ledger import RoleUsage
from promptopt.llm.connection import connect
from promptopt.optimizers.base import OptimizationResult, Optimizer, Progress
from promptopt.optimizers.registry import OPTIMIZERS, config_class, optimizer_class
from promptopt.runs import RESUMABLE_KEYS, RunDir
from promptopt.settings import OptimizeSettings, SearchOptions
from promptopt.tasks.task import Task

__all__ = ["OPTIMIZERS", "aestimate", "aoptimize", "config_class", "config_from_options", "optimize", "optimizer_class"]

def _budget(budget: Budget | int | None) -> Budget:
    """A Budget as given; a token count (or None) also stops after 5 generations without a
    better best, so a run that has converged, or whose population collapsed, ends by itself."""
    if isinstance(budget, Budget):
        return budget
    return Budget.from_options(tokens=budget, no_improvement=DEFAULT_NO_IMPROVEMENT)


def open_run_dir(run_dir: str | Path, settings: dict[str, Any], *, resume: bool) -> RunDir:
    """The run directory for ``settings``: a fresh one, or (``resume``) the stored run, checked to
    have the same settings except :data:`RESUMABLE_KEYS`; a changed budget drops the stored stop
    so the search continues from where it ended."""
    directory = RunDir(run_dir).acquire()
    try:
        if resume and directory.config_path.exists():
            directory.check_resume(settings, resumable=RESUMABLE_KEYS)
            if directory.read_config().get("budget") != settings["budget"]:
                directory.truncate_before("stop")
        else:  # a fresh run (``resume`` on an empty directory simply starts one)
            directory.ensure_fresh()
        directory.write_config(settings)
    except BaseException:
        directory.release()
        raise
    return directory


def connect_roles(specs: Mapping[str, str], *, cache: ResponseCache | None, seed: int) -> dict[str, LLMClient]:
    """One client per role; roles with the same spec share one endpoint (its concurrency limit),
    and every role shares the first one's ledger, so one budget sees all spend."""
    clients: dict[str, LLMClient] = {}
    by_spec: dict[str, LLMClient] = {}
    ledger = None
    for role, spec in specs.items():
        if spec in by_spec:
            clients[role] = by_spec[spec].with_role(role)
            continue
        client = connect(spec, role=role, cache=cache, ledger=ledger, seed=seed)
        ledger = ledger or client.ledger
        clients[role] = by_spec[spec] = client
    return clients


async def close_clients(clients: Mapping[str, LLMClient]) -> None:
    """Close every distinct endpoint of :func:`connect_roles`'s clients once."""
    closed: set[int] = set()
    for client in clients.values():
        if id(client.backend) not in closed:
            closed.add(id(client.backend))
            await client.aclose()


@dataclass(frozen=True)
class _Resolved:
    """A run's optimizer class, task, config, budget and role specs, checked; no client yet."""

    cls: type[Optimizer]
    task: Task
    config: Any
    budget: Budget
    specs: dict[str, str]
    judged: bool

    def build(self, settings: OptimizeSettings, clients: Mapping[str, LLMClient], directory: RunDir | None,
              on_progress: Callable[[Progress], None] | None) -> Optimizer:
        extra = {role: clients[role] for role in self.cls.model_roles if role != "meta" and role in clients}
        return self.cls(self.task, clients["downstream"], clients["meta"], **extra, config=self.config,
                        seed=settings.seed, budget=self.budget, run_dir=directory,
                        initial_prompts=settings.initial_prompts, model_spec=settings.models.model,
                        on_progress=on_progress)


def _resolve(task: str | Task, settings: OptimizeSettings, data_dir: str | Path | None) -> _Resolved:
    optimizer, models = settings.optimizer, settings.models
    cls = optimizer_class(optimizer)
    config = settings.config
    if config is not None and type(config) is not cls.config_type:
        raise TypeError(
            f"optimizer '{optimizer}' takes a {cls.config_type.__name__}, got a {type(config).__name__}"
        )
    judged = "judge" in cls.model_roles
    if not judged and models.judge_flags_given():
        raise ValueError(f"optimizer '{optimizer}' uses no judge: judge models apply to 'mpo' only")
    if isinstance(task, str):
        from promptopt.tasks.registry import load_task

        task = load_task(task, data_dir=data_dir)
    config = config if config is not None else cls.default_config()
    return _Resolved(cls, task, config, _budget(settings.budget), models.specs(judged), judged)


async def aestimate(
    task: str | Task,
    *,
    settings: OptimizeSettings | None = None,
    data_dir: str | Path | None = None,
    **options: Any,
) -> tuple[preflight.RunEstimate | None, Budget]:
    """The preflight estimate of a run (:mod:`promptopt.preflight`) and its budget; sends no
    request and writes nothing. None: the optimizer gives no estimate."""
    settings = settings or OptimizeSettings.from_options(**options)
    resolved = _resolve(task, settings, data_dir)
    clients = connect_roles(resolved.specs, cache=None, seed=settings.seed)
    try:
        return await preflight.estimate(resolved.build(settings, clients, None, None)), resolved.budget
    finally:
        await close_clients(clients)


async def aoptimize(
    task: str | Task,
    *,
    settings: OptimizeSettings | None = None,
    data_dir: str | Path | None = None,
    cache: ResponseCache | None | Literal["default"] = "default",
    on_progress: Callable[[Progress], None] | None = None,
    on_preflight: Callable[[preflight.RunEstimate, Budget], None] | None = None,
    on_requests: Callable[[RoleUsage], None] | None = None,
    **options: Any,
) -> OptimizationResult:
    """Optimize a prompt for ``task``; see :func:`optimize`. ``settings`` or its fields as
    keywords (:meth:`OptimizeSettings.from_options`), not both.

    Before the run directory is written and before any request, the preflight estimate
    (:mod:`promptopt.preflight`) goes to ``on_preflight``; a fresh run whose budget cannot pay
    for generation 0 and one generation raises :class:`~promptopt.preflight.PreflightRefused`
    unless ``settings.force``. ``on_requests`` gets this session's spend (all roles) after every
    request charged: sent, cached, failed and retried requests, for a display that counts them."""
    if settings is None:
        settings = OptimizeSettings.from_options(**options)
    elif options:
        raise TypeError(f"pass settings= or its fields as keywords, not both (got {', '.join(sorted(options))})")
    if settings.out is not None:
        from promptopt.runs import check_output_file

        check_output_file(settings.out, "--out")
    resolved = _resolve(task, settings, data_dir)
    optimizer, models, seed, out = settings.optimizer, settings.models, settings.seed, settings.out
    task, config, plan, specs, judged = resolved.task, resolved.config, resolved.budget, resolved.specs, resolved.judged
    initial_prompts = settings.initial_prompts
    run_dir = settings.run_dir
    # The cache is opened (and checked: layout, pages, write lock) before the run directory is
    # written and before any request, so an unusable cache costs nothing and leaves no run behind.
    shared_cache = ResponseCache() if cache == "default" else cache
    run_settings = None if run_dir is None else {
        "optimizer": optimizer,
        "task": task.name,
        "task_fingerprint": task.fingerprint(),
        "model": models.model,
        "meta_model": specs["meta"],
        **({"judge_models": {r: specs[r] for r in specs if "judge" in r}} if judged else {}),
        "seed": seed,
        "config": config.to_dict(),
        "initial_prompts": list(initial_prompts),
        "budget": plan.to_dict(),
    }
    clients = connect_roles(specs, cache=shared_cache, seed=seed)
    if on_requests is not None:
        ledger = clients["downstream"].ledger
        ledger.listen(lambda _role, _usage: on_requests(ledger.total()))

    def build(directory: RunDir | None) -> Optimizer:
        return resolved.build(settings, clients, directory, on_progress)

    directory = None
    try:
        preflight.check_prices(plan, clients)
        estimate = await preflight.estimate(build(None))  # before the run directory and any LLM request
        if on_preflight is not None and estimate is not None:
            on_preflight(estimate, plan)
        if estimate is not None and not settings.force and not settings.resume:
            shortfall = estimate.shortfall(plan)
            if shortfall is not None:
                raise preflight.PreflightRefused(f"{shortfall}: raise the budget, or pass --force "
                                                 "(force=True) to run anyway")
        if run_settings is not None:  # (a budget with custom conditions has no JSON form: no run dir then)
            directory = open_run_dir(run_dir, run_settings, resume=settings.resume)
        runner = build(directory)
        runner.preflight = estimate
        result = await runner.run()
    finally:
        await close_clients(clients)
        if cache == "default" and shared_cache is not None:
            shared_cache.close()
        if directory is not None:
            directory.release()
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
    ``meta_model`` are model specs (``meta_model`` defaults to ``model``); ``judge_model``,
    ``meta_judge_model`` and ``heldout_judge_model`` are MPO's (judge-scored tasks). ``optimizer`` is one
    of :data:`OPTIMIZERS` and ``config`` its config (:func:`config_class`; default: its defaults).
    """
    return asyncio.run(aoptimize(task, **options))


def config_from_options(optimizer: str, **options: Any) -> Any:
    """The config of ``optimizer`` with :class:`~promptopt.settings.SearchOptions` applied (None:
    keep the default); an option the optimizer does not have raises ValueError naming the flag."""
    search = SearchOptions(**options)
    search.check_applies((optimizer,))
    return search.config_for(optimizer)
