"""The numbers the tuned constants in :mod:`.tuning` are held to (spec: CaPo §3)."""

from __future__ import annotations

import statistics

from .driver import run_episode
from promptopt.planners.environments.suites import load_suite

__all__ = ["calibration_report", "household_report"]


def calibration_report(suite: str = "dev100") -> dict[str, float]:
    """Mean transport rates of the reference teams on ``suite`` and the cost of skipping containers
    in its "rare" episodes (with minus without containers), for the single greedy agent and for
    the full-information team: the spec's ">= 15 points" target names no team, both are held to it."""
    specs = load_suite(suite).episodes

    def rate(team: str, containers: str | None = None) -> float:
        chosen = [s for s in specs if containers is None or dict(s.params)["containers"] == containers]
        return statistics.mean(run_episode(s.config(), team, s.seed).transport_rate for s in chosen)

    return {
        "greedy": rate("greedy"),
        "greedy-pair": rate("greedy-pair"),
        "claims": rate("claims"),
        "oracle": rate("oracle"),
        "rare_container_cost_greedy": rate("greedy", "rare") - rate("greedy-nocontainers", "rare"),
        "rare_container_cost_oracle": rate("oracle", "rare") - rate("oracle-nocontainers", "rare"),
    }


def household_report(suite: str = "household10") -> dict[str, float]:
    """Mean steps to finish (the horizon on failure) of every household team on ``suite``, the
    share of episodes each finishes, and each team's efficiency improvement over the single greedy
    agent, EI = (S_single - S_team) / max(S_single, S_team) (steps: fewer is better)."""
    from .household_agents import HOUSEHOLD_TEAM_SPECS
    from .metrics import efficiency_improvement

    specs = load_suite(suite).episodes
    out: dict[str, float] = {}
    for team in HOUSEHOLD_TEAM_SPECS:
        results = [run_episode(s.config(), team, s.seed) for s in specs]
        out[team] = statistics.mean(r.steps for r in results)
        out[f"finished_{team}"] = statistics.mean(float(r.stats["finished"]) for r in results)
    for team in HOUSEHOLD_TEAM_SPECS:
        out[f"ei_{team}"] = efficiency_improvement(out[team], out["greedy"], lower_is_better=True)
    return out
