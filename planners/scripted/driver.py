"""Drive one episode: ask idle agents for actions until the world says it is done."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .agents import TEAMS, Agent, make_team
from promptopt.planners.environments.household import HouseholdConfig, HouseholdEnv
from .household_agents import (
    HOUSEHOLD_TEAM_SPECS,
    household_team_config,
    make_household_team,
)
from promptopt.planners.environments.protocol import Environment, event_log_hash
from promptopt.planners.environments.transport import TransportConfig, TransportEnv

__all__ = ["EpisodeResult", "run_episode", "team_config"]


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one episode; ``stats`` are the world's raw diagnostics (see ``TransportEnv.stats``)."""

    seed: int
    team: str
    delivered_ticks: tuple[int, ...]
    n_targets: int
    horizon: int
    ticks: int
    decisions: int
    event_hash: str
    stats: Mapping[str, Any]

    @property
    def transport_rate(self) -> float:
        return len(self.delivered_ticks) / self.n_targets

    @property
    def steps(self) -> int:
        """Household metric: steps to finish (the horizon on failure)."""
        return int(self.stats.get("steps", self.horizon))

    def rate_at(self, tick: int) -> float:
        """Anytime transport rate: share delivered by ``tick``."""
        return sum(t <= tick for t in self.delivered_ticks) / self.n_targets


def team_config(team: str, config: TransportConfig) -> TransportConfig:
    """The config a named scripted team plays under (its size; full information for the oracle)."""
    if team not in TEAMS:
        raise ValueError(f"unknown team {team!r}; choose one of {', '.join(TEAMS)}")
    n, omniscient = TEAMS[team]
    return dataclasses.replace(config, n_agents=n, omniscient=omniscient)


#: Household teams: name -> number of agents (the agents are in :mod:`.household_agents`).
HOUSEHOLD_TEAMS = {name: n for name, (n, _) in HOUSEHOLD_TEAM_SPECS.items()}

EnvSpec = TransportConfig | HouseholdConfig | Callable[[], Environment] | Environment


def run_episode(env: EnvSpec, agents: str | Mapping[str, Agent] | Callable[[Environment], Mapping[str, Agent]],
                seed: int, max_decisions: int = 100_000) -> EpisodeResult:
    """Run one episode. ``env`` is a config, a factory or an environment; ``agents`` a team name
    (scripted teams; the config is adapted by :func:`team_config`, or for the household world by
    :func:`.household_agents.household_team_config`), a mapping agent -> Agent, or a
    callable building that mapping from the environment."""
    team_name = agents if isinstance(agents, str) else "custom"
    if isinstance(env, HouseholdConfig):
        if isinstance(agents, str):
            if agents not in HOUSEHOLD_TEAMS:
                raise ValueError(f"unknown household team {agents!r}; choose one of {', '.join(HOUSEHOLD_TEAMS)}")
            env = HouseholdEnv(household_team_config(agents, env))
            agents = lambda e, name=agents: make_household_team(name, e, seed)
        else:
            env = HouseholdEnv(env)
    elif isinstance(env, TransportConfig):
        env = TransportEnv(team_config(agents, env) if isinstance(agents, str) else env)
    elif isinstance(env, type) or (callable(env) and not hasattr(env, "step")):
        env = env()
    if isinstance(agents, str):
        team = make_team(agents, env, seed)
    elif callable(agents):
        team = agents(env)
    else:
        team = agents
    obs = env.reset(seed)
    decisions, events, done = 0, [], False
    while not done:
        if decisions > max_decisions:
            raise RuntimeError(f"episode {seed} exceeded {max_decisions} decisions; an agent may loop on free actions")
        actions = {a: team[a].act(o) for a, o in obs.items()}
        decisions += len(actions)
        result = env.step(actions)
        obs, done = result.observations, result.done
        events.extend(result.events)
    stats = env.stats() if hasattr(env, "stats") else {}
    delivered = tuple(stats.get("delivered_ticks", ()))
    return EpisodeResult(seed, team_name, delivered, int(stats.get("n_targets", 1)),
                         int(stats.get("horizon", getattr(env, "tick", 0))), int(getattr(env, "tick", 0)),
                         decisions, event_log_hash(events), stats)
