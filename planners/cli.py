"""``promptopt plan run``: LLM teams (CaPo, CoELA-style) or scripted teams on a frozen suite.

Only typer and the standard library are imported at module level: ``promptopt --help`` stays
fast. The command is registered on the ``plan`` sub-app in ``promptopt/cli.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from promptopt import bounds

__all__ = ["plan_run"]

AGENTS_HELP = ("capo (meta-plan loop), coela (CoELA-style baseline) or a scripted team: random, greedy, "
               "greedy-pair, claims, oracle.")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint="--seeds") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise typer.BadParameter("give at least one seed, each once", param_hint="--seeds")
    return seeds


def plan_run(
    suite: str = typer.Option("test24", "--suite", help="test24, dev100 or household10."),
    agents: str = typer.Option("capo", "--agents", help=AGENTS_HELP),
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Model spec for every agent's LLM, e.g. 'local' or 'openai:MODEL@URL' "
                                             "(required for capo and coela)."),
    comm: str = typer.Option("free", "--comm", help="Communication cost policy: free, tdw or meeting."),
    seeds: str = typer.Option("0", "--seeds", help="Comma-separated run seeds (model sampling, designer choice); "
                                                   "every episode runs once per seed."),
    episodes: Optional[int] = typer.Option(None, "--episodes", **bounds.flag("episodes"), help="Only the first N episodes of the suite."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/plan-SUITE-TEAM)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out: finished episodes are skipped."),
    variant: str = typer.Option("full", "--variant", help="CaPo ablation: plan-only, discussion or full."),
    rounds: int = typer.Option(3, "--rounds", **bounds.flag("rounds"), help="Discussion round budget."),
    n_agents: int = typer.Option(2, "--n-agents", min=1, max=4, help="Agents in an LLM team."),
    designer: str = typer.Option("first", "--designer", help="Who designs the first plan: first or random."),
    debounce: int = typer.Option(200, "--debounce", min=0, help="Minimum ticks between two adaptations."),
    max_replans: int = typer.Option(5, "--max-replans", min=0, help="Most adaptations per episode."),
    max_llm_calls: Optional[int] = typer.Option(None, "--max-llm-calls", min=0,
                                                help="LLM-call budget per episode; afterwards plan steps still run "
                                                     "and other decisions take the safe default (wait)."),
    plan_tokens: int = typer.Option(400, "--plan-tokens", **bounds.flag("max_tokens"), help="Completion cap of draft/revise/adapt."),
    critique_tokens: int = typer.Option(160, "--critique-tokens", **bounds.flag("max_tokens"), help="Completion cap of a critique."),
    act_tokens: int = typer.Option(16, "--act-tokens", **bounds.flag("max_tokens"), help="Completion cap of an action choice."),
    message_tokens: int = typer.Option(48, "--message-tokens", **bounds.flag("max_tokens"), help="Completion cap of a message."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, max=2.0),
    concurrency: int = typer.Option(4, "--concurrency", **bounds.flag("concurrency"), help="Episodes run at the same time."),
    no_prompts: bool = typer.Option(False, "--no-prompts", help="Keep replies but not prompts in the transcripts."),
    cache_path: Optional[Path] = typer.Option(None, "--cache", help="Response cache file (default: the user cache)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache (not replayable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Run a team on a frozen suite: per-episode JSON (transcripts, plans, metrics) and a summary table."""
    import asyncio
    import dataclasses

    from promptopt.planners.config import LLM_TEAMS, VARIANTS, PlannerConfig
    from promptopt.planners.environments import load_suite
    from promptopt.planners.scripted import TEAMS
    from promptopt.planners.suite_run import finish, prepare, run_settings, run_suite

    from promptopt.progress import progress_bar
    from promptopt.runs import RunDir

    if agents not in LLM_TEAMS and agents not in TEAMS:
        raise typer.BadParameter(f"unknown team {agents!r}; {AGENTS_HELP}", param_hint="--agents")
    if variant not in VARIANTS:
        raise typer.BadParameter(f"choose one of {', '.join(VARIANTS)}", param_hint="--variant")
    if agents in LLM_TEAMS and not model:
        raise typer.BadParameter(f"team {agents!r} needs a model, e.g. --model local", param_hint="--model")
    discussion, adaptation = VARIANTS[variant]
    try:
        config = PlannerConfig(agents=agents, n_agents=n_agents, comm=comm, discussion=discussion,
                               adaptation=adaptation, rounds=rounds, designer=designer, debounce_ticks=debounce,
                               max_replans=max_replans, max_llm_calls=max_llm_calls, plan_tokens=plan_tokens,
                               critique_tokens=critique_tokens, act_tokens=act_tokens, message_tokens=message_tokens,
                               temperature=temperature, keep_prompts=not no_prompts)
        specs = load_suite(suite).episodes
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--suite/--comm/--designer") from None
    if agents not in LLM_TEAMS:
        config = dataclasses.replace(config, n_agents=TEAMS[agents][0])
    specs = specs[:episodes] if episodes else specs
    seed_list = _seeds(seeds)
    client: Any = None
    if agents in LLM_TEAMS:  # a bad spec or a missing key fails here, before the run directory is made
        from promptopt.llm.cache import ResponseCache
        from promptopt.llm.connection import connect

        client = connect(model, cache=None if no_cache else ResponseCache(cache_path), seed=seed_list[0])
    run = RunDir(out or Path("runs") / f"plan-{suite}-{config.label.replace(':', '-')}", flag="--out").acquire()
    settings = run_settings(suite, specs, seed_list, config, model if agents in LLM_TEAMS else None)
    prepare(run, settings, resume)

    async def go(update: Any) -> list[dict[str, Any]]:
        try:
            return await run_suite(specs, seed_list, config, client, run, concurrency=concurrency, on_progress=update)
        finally:
            if client is not None:
                await client.aclose()

    with progress_bar(f"{config.label} on {suite}", enabled=None if not as_json else False) as update:
        records = asyncio.run(go(update))
    ledger = None
    if client is not None:  # (run_suite refused a run whose every request failed, episode by episode)
        usage = client.ledger.snapshot()
        ledger = {role: u.to_dict() for role, u in sorted(usage.items())}
    summary, text = finish(run, records, settings, ledger)
    if as_json:
        typer.echo(json.dumps({"run_dir": str(run.path), **summary}, indent=2, sort_keys=True, ensure_ascii=False))
        return
    typer.echo(text)
    typer.echo(f"suite {suite}: {len(records)} episode(s), comm={comm}; run directory {run.path}")
