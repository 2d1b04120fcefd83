"""The Pareto front of (dev score ↑, prompt tokens ↓), by pymoo's non-dominated sorting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class FrontPoint:
    """A candidate on the front: its id, dev score (full evidence) and prompt length."""

    candidate_id: str
    score: float
    tokens: int


def pareto_front(points: Sequence[FrontPoint]) -> list[FrontPoint]:
    """Non-dominated points, sorted by ascending tokens (then descending score).

    Exact duplicates in both objectives are all kept (they tie); pymoo is imported lazily.
    """
    if not points:
        return []
    import numpy as np
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    objectives = np.array([[-p.score, float(p.tokens)] for p in points])
    front = NonDominatedSorting().do(objectives, only_non_dominated_front=True)
    chosen = [points[int(i)] for i in front]
    return sorted(chosen, key=lambda p: (p.tokens, -p.score, p.candidate_id))
