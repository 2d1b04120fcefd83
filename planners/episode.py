"""Run one suite episode with an LLM team (CaPo or the CoELA-style baseline) or a scripted team,
and return its record: metrics, plans, costs and the transcript, as plain JSON-able data.

The record separates what a replay must reproduce exactly (``metrics``, ``plans``, ``costs``,
``transcript``, ``event_hash``) from what differs between sessions by nature (``spend``: cache
hits and wall time).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Strict

from promptopt.planners.environments import EpisodeSpec, Event, HouseholdConfig, HouseholdEnv, TransportConfig, TransportEnv, event_log_hash
from promptopt.planners.scripted import EpisodeResult, anytime_area, anytime_rates, run_episode

from promptopt import records
from promptopt.llm.client import LLMClient

from .acting import ActLimits
from .capo_team import CapoTeam
from .coela import CoelaAgent
from .config import PlannerConfig
from .costs import CostBook, Count, EpisodeCosts
from .llmcall import ModuleLLM

__all__ = ["RECORD_VERSION", "EpisodeRecord", "episode_key", "read_record", "replayable", "run_planner_episode"]

RECORD_VERSION = 1
MAX_DECISIONS = 100_000

#: A number as an episode file holds it (an integer is one; a string or a boolean is not).
Number = Annotated[float, Strict()]


@dataclass(frozen=True)
class _WorldStats:
    """The world's diagnostics the summary adds up (the others are not read back)."""

    messages: Number = 0
    message_chars: Number = 0
    grasp_conflicts: Number = 0


@dataclass(frozen=True)
class _Metrics:
    transport_rate: Number
    steps: Number
    anytime: tuple[Number, ...]
    stats: _WorldStats


@dataclass(frozen=True)
class _Planning:
    """CaPo's discussion counts (empty for other teams)."""

    replans: Count = 0
    rounds: Count = 0
    consensus: Count = 0
    consensus_asked: Count = 0


@dataclass(frozen=True)
class _Spend:
    wall_s: Number = 0.0


@dataclass(frozen=True)
class EpisodeRecord(records.Record):
    """What a run reads back from an episode file: the fields its summary aggregates, so a damaged
    file names its field instead of failing inside the summary. The record stays the dict as
    written (this only checks it); fields not named here are not read back."""

    key: str
    agents: str
    episode: EpisodeSpec
    metrics: _Metrics
    costs: EpisodeCosts
    plans: tuple[Any, ...] = ()
    planning: _Planning = _Planning()
    spend: _Spend = _Spend()


def episode_key(spec: EpisodeSpec, seed: int) -> str:
    return f"{spec.id}-s{seed}"


def _env(spec: EpisodeSpec, config: PlannerConfig) -> TransportEnv | HouseholdEnv:
    base = spec.config()
    if isinstance(base, TransportConfig):
        return TransportEnv(dataclasses.replace(base, comm=config.comm, n_agents=config.n_agents))
    assert isinstance(base, HouseholdConfig)
    return HouseholdEnv(dataclasses.replace(base, n_agents=config.n_agents))


def _metrics(result: EpisodeResult) -> dict[str, Any]:
    stats = dict(result.stats)
    return {
        "transport_rate": result.transport_rate,
        "anytime": list(anytime_rates(result)),
        "anytime_area": anytime_area(result) if result.delivered_ticks or "bed_trips" in stats else 0.0,
        "steps": result.steps,
        "ticks": result.ticks,
        "decisions": result.decisions,
        "stats": stats,
    }


def _result(env: TransportEnv | HouseholdEnv, team: str, seed: int, decisions: int) -> EpisodeResult:
    stats = env.stats()
    return EpisodeResult(seed=seed, team=team, delivered_ticks=tuple(stats.get("delivered_ticks", ())),
                         n_targets=int(stats.get("n_targets", 1)), horizon=int(stats.get("horizon", env.tick)),
                         ticks=int(env.tick), decisions=decisions, event_hash=event_log_hash(env.events), stats=stats)


async def run_planner_episode(spec: EpisodeSpec, config: PlannerConfig, client: LLMClient | None,
                              seed: int = 0) -> dict[str, Any]:
    """One episode; ``seed`` is the run seed (model sampling seed, random designer choice)."""
    started = time.perf_counter()
    base = {"version": RECORD_VERSION, "key": episode_key(spec, seed), "episode": spec.to_dict(), "seed": seed,
            "agents": config.label}
    if not config.uses_llm:
        env_config = spec.config()
        if isinstance(env_config, TransportConfig):
            env_config = dataclasses.replace(env_config, comm=config.comm)
        result = await asyncio.to_thread(run_episode, env_config, config.agents, spec.seed)
        return {**base, "metrics": _metrics(result), "event_hash": result.event_hash, "plans": [],
                "planning": {}, "costs": CostBook().to_dict(), "progress": [], "transcript": [],
                "spend": {"wall_s": time.perf_counter() - started, "cache_hits": {}}}
    if client is None:
        raise ValueError(f"team {config.agents!r} needs a model: pass an LLM client")
    env = _env(spec, config)
    costs = CostBook()  # its own ledger: the client's is shared by the episodes running at once
    llm = ModuleLLM(client, costs, seed=seed, temperature=config.temperature, max_calls=config.max_llm_calls,
                    keep_prompts=config.keep_prompts)
    obs = env.reset(spec.seed)
    team = tuple(env.agents)
    capo = CapoTeam(env, llm, config, seed * 1_000_003 + spec.seed) if config.agents == "capo" else None
    coela = {a: CoelaAgent(a, team, llm, ActLimits(config.act_tokens, config.message_tokens)) for a in team}
    if capo is not None:
        await capo.start(obs)
    pending: dict[str, list[Event]] = {a: [] for a in team}
    decisions, done = 0, False
    while not done:
        if decisions > MAX_DECISIONS:
            raise RuntimeError(f"episode {spec.id} exceeded {MAX_DECISIONS} decisions")
        llm.tick = min(o.tick for o in obs.values())
        if capo is not None:
            actions = await capo.decide_all(obs, pending)
        else:
            chosen = await asyncio.gather(*(coela[a].decide(o) for a, o in obs.items()))
            actions = dict(zip(obs, chosen))
        for a in obs:
            pending[a] = []
        decisions += len(actions)
        step = env.step(actions)
        for e in step.events:
            for name in e.agent.split(","):
                if name in pending:
                    pending[name].append(e)
        obs, done = step.observations, step.done
    result = _result(env, config.label, spec.seed, decisions)
    record = {**base, "metrics": _metrics(result), "event_hash": result.event_hash,
              "plans": capo.history if capo else [], "planning": capo.summary() if capo else {},
              "progress": capo.progress_log if capo else [], "costs": costs.to_dict(),
              "llm_calls_budget": config.max_llm_calls, "transcript": llm.transcript,
              "spend": {"wall_s": time.perf_counter() - started, "cache_hits": {m: n for m, n in costs.cache_hits.items() if n}}}
    return record


def read_record(path: str, *, key: str) -> dict[str, Any]:
    """The record of episode file ``path`` as written, once its version and the fields the summary
    reads are checked (:class:`~promptopt.records.RecordError` names the file and the field)."""
    data = records.read_json(path, what="episode record")
    records.check_schema(data, where=path, known={RECORD_VERSION}, key="version")
    stored = EpisodeRecord.from_dict(data, where=path)
    if stored.key != key:
        raise records.RecordError(f"{path}: key: {stored.key!r} is not the episode the file is named for ({key!r})")
    return dict(data)


def replayable(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a record a replay from the cache must reproduce exactly."""
    return {k: v for k, v in record.items() if k != "spend"}
