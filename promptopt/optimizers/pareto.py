"""The Pareto front of the run's candidates, by pymoo's non-dominated sorting.

Objectives (``--objectives``, default ``score,prompt_tokens``): ``score`` (dev score, higher is
better), ``prompt_tokens`` (the prompt's length, lower is better) and ``completion_tokens`` (the
mean completion tokens per dev example, lower is better: what a prompt costs at inference beyond
its own length, as MO-CAPO counts it; a prompt that makes the model reason at length costs more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

#: Each objective and whether it is maximized.
OBJECTIVES: dict[str, bool] = {"score": True, "prompt_tokens": False, "completion_tokens": False}
DEFAULT_OBJECTIVES: tuple[str, ...] = ("score", "prompt_tokens")


@dataclass(frozen=True)
class FrontPoint:
    """A candidate on the front: its id, dev score (full evidence), prompt length and mean
    completion tokens per dev example (None when unknown)."""

    candidate_id: str
    score: float
    tokens: int
    completion_tokens: float | None = None

    def value(self, objective: str) -> float:
        """The objective as a number to minimize."""
        if objective == "score":
            return -self.score
        if objective == "prompt_tokens":
            return float(self.tokens)
        return float("inf") if self.completion_tokens is None else self.completion_tokens


def check_objectives(value: str | Sequence[str]) -> tuple[str, ...]:
    """Objectives from a list or a comma-separated string; ValueError names an unknown one."""
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [str(n).strip() for n in value]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective(s) {', '.join(unknown)} (known: {', '.join(OBJECTIVES)})")
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"objectives must name at least two different objectives, got {', '.join(names) or 'none'}")
    return tuple(names)


def pareto_front(points: Sequence[FrontPoint], objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> list[FrontPoint]:
    """Non-dominated points under ``objectives``, sorted by ascending prompt tokens (then
    descending score).

    Exact duplicates in every objective are all kept (they tie); pymoo is imported lazily.
    """
    if not points:
        return []
    import numpy as np
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    values = np.array([[p.value(o) for o in objectives] for p in points])
    front = NonDominatedSorting().do(values, only_non_dominated_front=True)
    chosen = [points[int(i)] for i in front]
    return sorted(chosen, key=lambda p: (p.tokens, -p.score, p.candidate_id))
