"""The summary of a run: one row per team with transport rate, cost and planning diagnostics."""

from __future__ import annotations

import math

from collections.abc import Sequence
from typing import Any

from promptopt.stats import mean_interval

__all__ = ["summarize", "table"]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _talk(record: dict[str, Any], field: str, world_field: str) -> float:
    """Discussion texts (draft, critiques, revisions, adaptations) plus messages sent in the world."""
    modules = record["costs"]["modules"]
    discussion = sum(row[field] for name, row in modules.items() if name != "message")
    return discussion + float(record["metrics"]["stats"].get(world_field, 0))


#: Fallbacks that mean the first plan was not the model's: nothing parsed, the call failed, or
#: the call budget was spent before it.
_NO_DRAFT = ("draft.default", "draft.error", "draft.budget")


def _usable_plan_rate(records: Sequence[dict[str, Any]]) -> float | None:
    """Share of episodes whose first plan was read from the designer's reply (JSON, repaired JSON
    or plan lines) rather than the safe default; None for teams that do not plan."""
    planned = [r for r in records if r.get("plans")]
    if not planned:
        return None
    usable = [r for r in planned if not any(r["costs"]["fallbacks"].get(k) for k in _NO_DRAFT)]
    return len(usable) / len(planned)


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate episode records by team label (per-episode means; rates with a 95% interval)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r["agents"], []).append(r)
    rows = {}
    for label, rs in groups.items():
        metric = "steps" if rs[0]["episode"].get("mode") == "household" else "transport_rate"
        est = mean_interval([float(r["metrics"][metric]) for r in rs])
        totals = [r["costs"]["total"] for r in rs]
        planning = [r.get("planning", {}) for r in rs]
        asked = sum(p.get("consensus_asked", 0) for p in planning)
        fallbacks: dict[str, int] = {}
        for r in rs:
            for k, v in r["costs"]["fallbacks"].items():
                fallbacks[k] = fallbacks.get(k, 0) + v
        decisions: dict[str, int] = {}
        for r in rs:
            for k, v in r["costs"]["decisions"].items():
                decisions[k] = decisions.get(k, 0) + v
        rows[label] = {
            "episodes": len(rs),
            "metric": metric,
            # one episode says nothing about spread: its infinite bounds are written as null (JSON has no inf)
            metric: {"mean": est.value, "low": _finite_or_none(est.low), "high": _finite_or_none(est.high),
                     "method": est.method},
            "per_episode": {r["key"]: r["metrics"][metric] for r in rs},
            "anytime": [_mean([r["metrics"]["anytime"][i] for r in rs]) for i in range(len(rs[0]["metrics"]["anytime"]))],
            "llm_calls": _mean([t["calls"] for t in totals]),
            "tokens": _mean([t["tokens"] for t in totals]),
            "messages": _mean([_talk(r, "messages", "messages") for r in rs]),
            "characters": _mean([_talk(r, "characters", "message_chars") for r in rs]),
            "env_ticks_charged": _mean([t["env_ticks"] for t in totals]),
            "replans": _mean([p.get("replans", 0) for p in planning]),
            "rounds": _mean([p.get("rounds", 0) for p in planning]),
            "consensus_rate": (sum(p.get("consensus", 0) for p in planning) / asked) if asked else None,
            "usable_plan_rate": _usable_plan_rate(rs),
            "fallbacks": dict(sorted(fallbacks.items())),
            "fallbacks_per_episode": sum(fallbacks.values()) / len(rs),
            "decisions": dict(sorted(decisions.items())),
            "grasp_conflicts": _mean([float(r["metrics"]["stats"].get("grasp_conflicts", 0)) for r in rs]),
            "wall_s": sum(r.get("spend", {}).get("wall_s", 0.0) for r in rs),
        }
    return {"teams": rows}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def table(summary: dict[str, Any]) -> str:
    """Plain-text table, one row per team."""
    household = any(s["metric"] == "steps" for s in summary["teams"].values())
    head = ["team", "episodes", "steps [95% CI]" if household else "transport rate [95% CI]", "LLM calls/ep", "tokens/ep",
            "usable plan", "consensus", "rounds/ep", "replans/ep", "fallbacks/ep", "msgs/ep", "chars/ep", "conflicts/ep"]
    rows = [head]
    for label, s in summary["teams"].items():
        tr = s[s["metric"]]
        rows.append([
            label, str(s["episodes"]), f"{tr['mean']:.3f} " + (
                "[n/a]" if tr["low"] is None or tr["high"] is None else f"[{tr['low']:.3f}, {tr['high']:.3f}]"),
            f"{s['llm_calls']:.1f}", f"{s['tokens']:.0f}",
            "-" if s.get("usable_plan_rate") is None else f"{s['usable_plan_rate']:.2f}",
            "-" if s["consensus_rate"] is None else f"{s['consensus_rate']:.2f}",
            f"{s['rounds']:.1f}", f"{s['replans']:.1f}", f"{s['fallbacks_per_episode']:.1f}",
            f"{s['messages']:.1f}", f"{s['characters']:.0f}", f"{s['grasp_conflicts']:.1f}",
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
