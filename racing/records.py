"""Immutable records a race hands back: its result, its eliminations and progress events."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BlockEvent", "Elimination", "RaceResult"]


@dataclass(frozen=True)
class Elimination:
    """``cid`` was dropped after block ``block`` because each of ``beaten_by`` beat it significantly."""

    cid: str
    block: int
    beaten_by: tuple[str, ...]

    @property
    def candidate_id(self) -> str:
        """Alias of ``cid``, for callers that spell the id out."""
        return self.cid


@dataclass(frozen=True)
class BlockEvent:
    """Progress after one raced block: ``alive`` candidates remain, ``eliminated`` left now,
    ``evaluated`` new (candidate, block) evaluations were paid for it."""

    block: int
    alive: int
    eliminated: tuple[str, ...]
    evaluated: int


@dataclass(frozen=True)
class RaceResult:
    """Outcome of one race.

    ``survivors`` are ranked best first and ``survivor_means`` are the mean unpenalized scores the
    ranking used. ``cut`` holds candidates no test eliminated but that ranked below the top
    ``keep`` when the blocks ran out. ``evaluations`` counts the new (candidate, block) evaluations
    this race paid for; ``full_evaluations`` what scoring every candidate on every block available
    to the race would have cost, so ``saved`` is the fraction racing avoided.
    """

    survivors: tuple[str, ...]
    survivor_means: tuple[float, ...]
    eliminated: tuple[Elimination, ...]
    cut: tuple[str, ...]
    blocks_used: int
    evaluations: int
    full_evaluations: int

    @property
    def saved(self) -> float:
        """1 - evaluations / full_evaluations (0 when nothing could have been evaluated)."""
        if self.full_evaluations <= 0:
            return 0.0
        return 1.0 - self.evaluations / self.full_evaluations
