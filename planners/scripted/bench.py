"""``bench(suite, agents)``: run scripted teams on a frozen suite and summarise them.

The CLI wires this into a command; it prints ``BenchResult.table()`` and can save ``to_json()``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promptopt.stats import Estimate, PairedBootstrapResult, mean_interval

from .metrics import (
    ANYTIME_TICKS,
    anytime_area,
    diagnostics,
    efficiency_improvement,
    paired_comparison,
)
from .driver import EpisodeResult, run_episode
from promptopt.planners.environments.suites import load_suite
from promptopt.planners.environments.transport import COMM_POLICIES, TransportConfig

__all__ = ["BENCH_AGENTS", "AgentSummary", "BenchResult", "bench"]

BENCH_AGENTS = ("random", "greedy", "greedy-pair", "claims", "oracle")
REFERENCE = "greedy"


@dataclass(frozen=True)
class AgentSummary:
    """One team on one suite: the metric with its interval, anytime rates, EI and diagnostics."""

    agent: str
    metric: str
    estimate: Estimate
    per_episode: tuple[float, ...]
    anytime: tuple[float, ...]
    area: float
    ei: float
    vs_reference: PairedBootstrapResult | None
    diagnostics: dict[str, float]
    event_hashes: tuple[str, ...]


@dataclass(frozen=True)
class BenchResult:
    suite: str
    comm: str
    summaries: tuple[AgentSummary, ...]
    seconds: float

    def table(self) -> str:
        """Plain-text table: one row per team."""
        s0 = self.summaries[0]
        transport = s0.metric == "transport_rate"
        head = ["agent", f"{s0.metric} mean [95% CI]"]
        if transport:
            head += [f"@{t}" for t in ANYTIME_TICKS] + ["area"]
        head += ["EI vs greedy", "diff vs greedy [95% CI]"]
        if transport:
            head += ["explored 2x", "conflicts", "idle ticks", "obj/trip"]
        head += ["msgs", "chars"]
        rows = [head]
        for s in self.summaries:
            e = s.estimate
            row = [s.agent, f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]" if transport
                   else f"{e.value:.1f} [{e.low:.1f}, {e.high:.1f}]"]
            if transport:
                row += [f"{a:.2f}" for a in s.anytime] + [f"{s.area:.3f}"]
            row.append(f"{s.ei:+.3f}")
            v = s.vs_reference
            row.append("-" if v is None else f"{v.mean_diff:+.3f} [{v.low:+.3f}, {v.high:+.3f}]")
            d = s.diagnostics
            if transport:
                row += [f"{d['rooms_explored_twice']:.1f}", f"{d['grasp_conflicts']:.1f}", f"{d['idle_ticks']:.0f}",
                        f"{d['objects_per_trip']:.2f}"]
            row += [f"{d['messages']:.1f}", f"{d['message_chars']:.0f}"]
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        n = len(self.summaries[0].per_episode)
        lines.append(f"suite {self.suite}: {n} episodes, comm={self.comm}, {self.seconds:.1f} s")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"suite": self.suite, "comm": self.comm, "seconds": self.seconds, "agents": {}}
        for s in self.summaries:
            v = s.vs_reference
            out["agents"][s.agent] = {
                "metric": s.metric,
                "mean": s.estimate.value, "low": s.estimate.low, "high": s.estimate.high,
                "interval_method": s.estimate.method,
                "per_episode": list(s.per_episode),
                "anytime": dict(zip((str(t) for t in ANYTIME_TICKS), s.anytime)),
                "anytime_area": s.area,
                "ei_vs_greedy": s.ei,
                "diff_vs_greedy": None if v is None else
                {"mean": v.mean_diff, "low": v.low, "high": v.high, "p_value": v.p_value},
                "diagnostics": s.diagnostics,
                "event_hashes": list(s.event_hashes),
            }
        return out


def _run(suite: str, agent: str, comm: str) -> list[EpisodeResult]:
    results = []
    for spec in load_suite(suite).episodes:
        config = spec.config()
        if isinstance(config, TransportConfig):
            config = dataclasses.replace(config, comm=comm)
        results.append(run_episode(config, agent, spec.seed))
    return results


def bench(suite: str, agents: Sequence[str], comm: str = "free", n_resamples: int = 2000,
          seed: int = 0) -> BenchResult:
    """Run each team on every episode of ``suite`` (same seeds for all: paired comparisons)."""
    if comm not in COMM_POLICIES:
        raise ValueError(f"comm must be one of {', '.join(COMM_POLICIES)}, got {comm!r}")
    if not agents:
        raise ValueError(f"name at least one agent: {', '.join(BENCH_AGENTS)}")
    start = time.perf_counter()
    runs = {a: _run(suite, a, comm) for a in dict.fromkeys([*agents, REFERENCE])}
    household = runs[REFERENCE][0].stats.get("steps") is not None and not runs[REFERENCE][0].delivered_ticks \
        and "bed_trips" not in runs[REFERENCE][0].stats

    def metric(r: EpisodeResult) -> float:
        return float(r.steps) if household else r.transport_rate

    ref = [metric(r) for r in runs[REFERENCE]]
    summaries = []
    for a in agents:
        res = runs[a]
        values = [metric(r) for r in res]
        est = mean_interval(values)
        ref_mean = mean_interval(ref).value
        summaries.append(AgentSummary(
            agent=a, metric="steps" if household else "transport_rate", estimate=est, per_episode=tuple(values),
            anytime=tuple(sum(r.rate_at(t) for r in res) / len(res) for t in ANYTIME_TICKS),
            area=sum(anytime_area(r) for r in res) / len(res) if not household else 0.0,
            ei=efficiency_improvement(est.value, ref_mean, lower_is_better=household),
            vs_reference=None if a == REFERENCE else paired_comparison(values, ref, n_resamples, seed),
            diagnostics=diagnostics(res), event_hashes=tuple(r.event_hash for r in res)))
    return BenchResult(suite, comm, tuple(summaries), time.perf_counter() - start)
