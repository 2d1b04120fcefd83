"""The numbers the tuned constants in :mod:`.tuning` are held to (spec: CaPo §3)."""

from __future__ import annotations

import statistics

from .runner import run_episode
from .suites import load_suite

__all__ = ["calibration_report"]


def calibration_report(suite: str = "dev100") -> dict[str, float]:
    """Mean transport rates of the reference teams on ``suite`` and the cost of skipping containers
    in its "rare" episodes, for the single greedy agent and for the full-information team."""
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
