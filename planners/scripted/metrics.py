"""Episode metrics and paired comparisons (same seeds, bootstrap intervals)."""

from __future__ import annotations

from collections.abc import Sequence

from promptopt.stats import PairedBootstrapResult, paired_bootstrap

from .driver import EpisodeResult

__all__ = [
    "ANYTIME_TICKS", "anytime_area", "anytime_rates", "diagnostics", "efficiency_improvement",
    "paired_comparison",
]

ANYTIME_TICKS = (1000, 2000, 3000)


def anytime_rates(result: EpisodeResult, ticks: Sequence[int] = ANYTIME_TICKS) -> tuple[float, ...]:
    """Transport rate reached by each tick (how early the team delivers, not only how much)."""
    return tuple(result.rate_at(t) for t in ticks)


def anytime_area(result: EpisodeResult) -> float:
    """Normalised area under the transport-rate-over-time curve on [0, horizon] (1 = all at tick 0)."""
    h = result.horizon
    return sum((h - t) / h for t in result.delivered_ticks if t <= h) / result.n_targets


def efficiency_improvement(m_team: float, m_single: float, lower_is_better: bool = False) -> float:
    """EI = (M_team - M_single) / max(M_team, M_single); for a cost metric (steps) the sign flips."""
    if lower_is_better:
        m_team, m_single = m_single, m_team
    top = max(m_team, m_single)
    return 0.0 if top == 0 else (m_team - m_single) / top


def diagnostics(results: Sequence[EpisodeResult]) -> dict[str, float]:
    """Mean coordination diagnostics and communication cost per episode."""
    n = max(1, len(results))

    def mean(key: str) -> float:
        return sum(float(r.stats.get(key, 0)) for r in results) / n

    trips = [t for r in results for t in r.stats.get("bed_trips", [])]
    return {
        "rooms_explored_twice": mean("rooms_explored_twice"),
        "grasp_conflicts": mean("grasp_conflicts"),
        "idle_ticks": mean("idle_ticks"),
        "objects_per_trip": (sum(trips) / len(trips)) if trips else 0.0,
        "messages": mean("messages"),
        "message_chars": mean("message_chars"),
    }


def paired_comparison(a: Sequence[float], b: Sequence[float], n_resamples: int = 2000,
                      seed: int = 0) -> PairedBootstrapResult:
    """Mean of a - b over the same episodes with a bootstrap 95% interval."""
    return paired_bootstrap(list(a), list(b), n_resamples=n_resamples, seed=seed)
