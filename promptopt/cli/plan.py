"""``promptopt plan bench`` (scripted teams) and ``promptopt plan run`` (LLM or scripted teams on a
frozen suite, episode files and a summary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptopt import bounds
from promptopt.cli.app import emit_json, plan_app
from promptopt.cli.groups import command, group
from promptopt.cli.options import CacheChoice, Comm, Json, Model, Resume, Seeds, Suite, Temperature, seed_list

AGENTS_HELP = ("capo (meta-plan loop), coela (CoELA-style baseline) or a scripted team: random, greedy, "
               "greedy-pair, claims, oracle.")


@plan_app.command("bench")
@command
def plan_bench(
    suite: Suite = "test24",
    agents: Annotated[str, typer.Option("--agents", help="Comma-separated scripted teams: random, greedy, greedy-pair, claims, oracle.")] = "greedy,greedy-pair,claims,oracle",
    comm: Comm = "free",
    as_json: Json = False,
) -> None:
    """Run scripted teams on a frozen suite and print transport rates, anytime rates and diagnostics."""
    from promptopt.planners.scripted import bench

    names = [name.strip() for name in agents.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("name at least one team", param_hint="--agents")
    try:
        result = bench(suite, names, comm=comm)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\""), param_hint="--suite/--comm/--agents") from None
    if as_json:
        emit_json(result.to_json())
    else:
        typer.echo(result.table())


@dataclass(frozen=True)
class Team:
    """How an LLM team plans: communication cost, CaPo variant, rounds, designer, adaptation."""

    comm: str = "free"
    variant: str = "full"
    rounds: int = 3
    n_agents: int = 2
    designer: str = "first"
    debounce: int = 200
    max_replans: int = 5
    max_llm_calls: Optional[int] = None


@dataclass(frozen=True)
class Replies:
    """How agents' LLM replies are sampled and kept: completion caps per module, temperature."""

    plan_tokens: int = 400
    critique_tokens: int = 160
    act_tokens: int = 16
    message_tokens: int = 48
    temperature: Optional[float] = 0.0
    no_prompts: bool = False


group(Team, {
    "comm": Comm,
    "variant": Annotated[str, typer.Option("--variant", help="CaPo ablation: plan-only, discussion or full.")],
    "rounds": Annotated[int, typer.Option("--rounds", **bounds.flag("rounds"), help="Discussion round budget.")],
    "n_agents": Annotated[int, typer.Option("--n-agents", min=1, max=4, help="Agents in an LLM team.")],
    "designer": Annotated[str, typer.Option("--designer", help="Who designs the first plan: first or random.")],
    "debounce": Annotated[int, typer.Option("--debounce", min=0, help="Minimum ticks between two adaptations.")],
    "max_replans": Annotated[int, typer.Option("--max-replans", min=0, help="Most adaptations per episode.")],
    "max_llm_calls": Annotated[Optional[int], typer.Option("--max-llm-calls", min=0, help="LLM-call budget per episode; afterwards plan steps still run and other decisions take the safe default (wait).")],
}, panel="Team")
group(Replies, {
    "plan_tokens": Annotated[int, typer.Option("--plan-tokens", **bounds.flag("max_tokens"), help="Completion cap of draft/revise/adapt.")],
    "critique_tokens": Annotated[int, typer.Option("--critique-tokens", **bounds.flag("max_tokens"), help="Completion cap of a critique.")],
    "act_tokens": Annotated[int, typer.Option("--act-tokens", **bounds.flag("max_tokens"), help="Completion cap of an action choice.")],
    "message_tokens": Annotated[int, typer.Option("--message-tokens", **bounds.flag("max_tokens"), help="Completion cap of a message.")],
    "temperature": Temperature,
    "no_prompts": Annotated[bool, typer.Option("--no-prompts", help="Keep replies but not prompts in the transcripts.")],
}, panel="Replies")


def _config(agents: str, team: Team, replies: Replies, model: Optional[str]) -> Any:
    """The planner config of the flags (a scripted team keeps its own size)."""
    import dataclasses

    from promptopt.planners.config import LLM_TEAMS, VARIANTS, PlannerConfig
    from promptopt.planners.scripted import TEAMS

    if agents not in LLM_TEAMS and agents not in TEAMS:
        raise typer.BadParameter(f"unknown team {agents!r}; {AGENTS_HELP}", param_hint="--agents")
    if team.variant not in VARIANTS:
        raise typer.BadParameter(f"choose one of {', '.join(VARIANTS)}", param_hint="--variant")
    if agents in LLM_TEAMS and not model:
        raise typer.BadParameter(f"team {agents!r} needs a model, e.g. --model local", param_hint="--model")
    discussion, adaptation = VARIANTS[team.variant]
    caps = asdict(replies)
    config = PlannerConfig(
        agents=agents, n_agents=team.n_agents, comm=team.comm, discussion=discussion, adaptation=adaptation,
        rounds=team.rounds, designer=team.designer, debounce_ticks=team.debounce, max_replans=team.max_replans,
        max_llm_calls=team.max_llm_calls, temperature=caps.pop("temperature") or 0.0,
        keep_prompts=not caps.pop("no_prompts"), **caps,
    )
    return config if agents in LLM_TEAMS else dataclasses.replace(config, n_agents=TEAMS[agents][0])


@plan_app.command("run")
@command
def plan_run(
    suite: Suite = "test24",
    agents: Annotated[str, typer.Option("--agents", help=AGENTS_HELP)] = "capo",
    model: Model = None,
    seeds: Seeds = "0",
    episodes: Annotated[Optional[int], typer.Option("--episodes", **bounds.flag("episodes"), help="Only the first N episodes of the suite.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default runs/plan-SUITE-TEAM).")] = None,
    resume: Resume = False,
    team: Team = Team(),
    replies: Replies = Replies(),
    concurrency: Annotated[int, typer.Option("--concurrency", **bounds.flag("concurrency"), help="Episodes run at the same time.")] = 4,
    cache: CacheChoice = CacheChoice(),
    as_json: Json = False,
) -> None:
    """Run a team on a frozen suite: per-episode JSON (transcripts, plans, metrics) and a summary table.

    capo and coela need --model; every episode runs once per seed (model sampling, designer choice).
    """
    import asyncio

    from promptopt.planners.config import LLM_TEAMS
    from promptopt.planners.environments import load_suite
    from promptopt.planners.suite_run import finish, prepare, run_settings, run_suite
    from promptopt.progress import progress_bar
    from promptopt.runs import RunDir

    try:
        config = _config(agents, team, replies, model)
        specs = load_suite(suite).episodes
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--suite/--comm/--designer") from None
    llm_team = agents in LLM_TEAMS
    specs = specs[:episodes] if episodes else specs
    seed_values = list(seed_list(seeds))
    client: Any = None
    if llm_team:  # a bad spec or a missing key fails here, before the run directory is made
        from promptopt.llm.connection import connect

        client = connect(model, cache=cache.choice(), seed=seed_values[0])
    run = RunDir(out or Path("runs") / f"plan-{suite}-{config.label.replace(':', '-')}", flag="--out").acquire()
    settings = run_settings(suite, specs, seed_values, config, model if llm_team else None)
    prepare(run, settings, resume)

    async def go(update: Any) -> list[dict[str, Any]]:
        try:
            return await run_suite(specs, seed_values, config, client, run, concurrency=concurrency, on_progress=update)
        finally:
            if client is not None:
                await client.aclose()

    with progress_bar(f"{config.label} on {suite}", enabled=None if not as_json else False) as update:
        records = asyncio.run(go(update))
    ledger = None
    if client is not None:  # (run_suite refused a run whose every request failed, episode by episode)
        ledger = {role: u.to_dict() for role, u in sorted(client.ledger.snapshot().items())}
    summary, text = finish(run, records, settings, ledger)
    if as_json:
        emit_json({"run_dir": str(run.path), **summary})
        return
    typer.echo(text)
    typer.echo(f"suite {suite}: {len(records)} episode(s), comm={team.comm}; run directory {run.path}")
