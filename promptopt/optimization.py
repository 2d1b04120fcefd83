"""``promptopt.optimize``: one call from a task and a model spec to an optimized prompt.

Builds the clients (downstream and meta share one endpoint, cache and ledger when they are the same
spec), the budget and the run directory, runs the optimizer, and writes the best prompt as an
artifact. The CLI's ``promptopt optimize`` is a thin layer over :func:`aoptimize`.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

from promptopt.bounds import DEFAULT_NO_IMPROVEMENT
from promptopt.budget import Budget
from promptopt.llm.cache import ResponseCache
from promptopt.llm.client import LLMClient
from promptopt.llm.connection import connect
from promptopt.optimizers.base import OptimizationResult, Optimizer, Progress
from promptopt.runs import RESUMABLE_KEYS, RunDir
from promptopt.tasks.task import Task

#: Optimizer name -> "module:class". "initial" is the floor: the best initial prompt, no search.
_REGISTRY = {
    "capo": "promptopt.optimizers.capo:CAPO",
    "opro": "promptopt.optimizers.opro:OPRO",
    "evoprompt-ga": "promptopt.optimizers.evoprompt:EvoPromptGA",
    "evoprompt-de": "promptopt.optimizers.evoprompt:EvoPromptDE",
    "initial": "promptopt.optimizers.initial:InitialOnly",
    "mpo": "promptopt.optimizers.mpo:MPO",
}
OPTIMIZERS = tuple(_REGISTRY)


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class registered under ``name`` (imported on first use)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown optimizer '{name}' (available: {', '.join(OPTIMIZERS)})")
    module, attr = _REGISTRY[name].split(":")
    cls: type[Optimizer] = getattr(importlib.import_module(module), attr)
    return cls


def config_class(name: str) -> type:
    """The config dataclass of the optimizer ``name`` (e.g. CAPOConfig for "capo")."""
    return optimizer_class(name).config_type


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


async def aoptimize(
    task: str | Task,
    *,
    model: str = "local",
    meta_model: str | None = None,
    judge_model: str | None = None,
    meta_judge_model: str | None = None,
    heldout_judge_model: str | None = None,
    optimizer: str = "capo",
    budget: Budget | int | None = None,
    seed: int = 42,
    config: Any | None = None,
    initial_prompts: Sequence[str] = (),
    run_dir: str | Path | None = None,
    resume: bool = False,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    cache: ResponseCache | None | Literal["default"] = "default",
    on_progress: Callable[[Progress], None] | None = None,
) -> OptimizationResult:
    """Optimize a prompt for ``task`` on ``model``; see :func:`optimize`."""
    if out is not None:
        from promptopt.runs import check_output_file

        check_output_file(out, "--out")
    cls = optimizer_class(optimizer)
    if config is not None and type(config) is not cls.config_type:
        raise TypeError(
            f"optimizer '{optimizer}' takes a {cls.config_type.__name__}, got a {type(config).__name__}"
        )
    judged = "judge" in cls.model_roles
    if not judged and (judge_model or meta_judge_model or heldout_judge_model):
        raise ValueError(f"optimizer '{optimizer}' uses no judge: judge models apply to 'mpo' only")
    if isinstance(task, str):
        from promptopt.tasks.registry import load_task

        task = load_task(task, data_dir=data_dir)
    config = config if config is not None else cls.default_config()
    plan = _budget(budget)
    specs = {"downstream": model, "meta": meta_model or model}
    if judged:
        specs["judge"] = judge_model or model
        specs["meta_judge"] = meta_judge_model or specs["meta"]
        if heldout_judge_model:
            specs["heldout_judge"] = heldout_judge_model
    # The cache is opened (and checked: layout, pages, write lock) before the run directory is
    # written and before any request, so an unusable cache costs nothing and leaves no run behind.
    shared_cache = ResponseCache() if cache == "default" else cache
    directory = None
    if run_dir is not None:  # (a budget with custom conditions has no JSON form: no run dir then)
        settings = {
            "optimizer": optimizer,
            "task": task.name,
            "task_fingerprint": task.fingerprint(),
            "model": model,
            "meta_model": specs["meta"],
            **({"judge_models": {r: specs[r] for r in specs if "judge" in r}} if judged else {}),
            "seed": seed,
            "config": config.to_dict(),
            "initial_prompts": list(initial_prompts),
            "budget": plan.to_dict(),
        }
        try:
            directory = open_run_dir(run_dir, settings, resume=resume)
        except BaseException:
            if cache == "default" and shared_cache is not None:
                shared_cache.close()
            raise
    clients = connect_roles(specs, cache=shared_cache, seed=seed)
    extra = {role: clients[role] for role in cls.model_roles if role != "meta" and role in clients}
    try:
        result = await cls(
            task,
            clients["downstream"],
            clients["meta"],
            **extra,
            config=config,
            seed=seed,
            budget=plan,
            run_dir=directory,
            initial_prompts=initial_prompts,
            model_spec=model,
            on_progress=on_progress,
        ).run()
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


#: CLI options that only some optimizers have, and the config field each sets there.
_OPTION_FIELDS: dict[str, dict[str, str]] = {
    "offspring": {"capo": "offspring", "evoprompt-ga": "offspring", "opro": "proposals"},
    "max_blocks": {"capo": "max_blocks"},
    "max_shots": {"capo": "max_shots"},
    "paper_compat": {"capo": "paper_compat"},
}


def config_from_options(
    optimizer: str, *, max_tokens: int | None = None, meta_max_tokens: int | None = None, **options: Any
) -> Any:
    """The config of ``optimizer`` with the CLI's options applied (None: keep the default).

    ``population``, ``block_size``, ``dev_size``, ``renderer``, ``max_tokens`` (downstream
    completion cap) and ``meta_max_tokens`` (the meta-LLM's) apply to every optimizer.
    ``offspring`` is the number of new candidates per generation: CAPO's c, EvoPrompt-GA's
    children, OPRO's proposals. ``max_blocks``,
    ``max_shots`` and ``paper_compat`` are CAPO's. An option the optimizer does not have raises
    ValueError naming the flag, rather than being silently ignored.
    """
    from dataclasses import fields, replace

    if optimizer == "mpo":  # MPO searches with CAPO: the options shape its search
        from promptopt.optimizers.mpo import MPOConfig

        return MPOConfig(
            search=config_from_options("capo", max_tokens=max_tokens, meta_max_tokens=meta_max_tokens, **options)
        )
    cls = config_class(optimizer)
    known = {f.name for f in fields(cls)}
    changes: dict[str, Any] = {}
    for option, value in options.items():
        if value is None:
            continue
        target = _OPTION_FIELDS[option].get(optimizer) if option in _OPTION_FIELDS else option
        if target is None or target not in known:
            users = ", ".join(_OPTION_FIELDS.get(option, {})) or "no optimizer"
            raise ValueError(
                f"--{option.replace('_', '-')} does not apply to optimizer '{optimizer}' (only to {users})"
            )
        changes[target] = value
    try:
        config = replace(cls(), **changes)
    except ValueError as exc:
        raise ValueError(f"optimizer '{optimizer}': {exc}") from None
    if max_tokens is not None:
        config = replace(config, sampling=replace(config.sampling, max_tokens=max_tokens))
    if meta_max_tokens is not None:
        config = replace(config, meta_sampling=replace(config.meta_sampling, max_tokens=meta_max_tokens))
    return config
