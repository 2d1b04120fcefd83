"""Sane bounds for every count a user can set, in one table that the CLI and the configs share
(and the one count default they share too, :data:`DEFAULT_NO_IMPROVEMENT`).

Sizes such as a population or a few-shot count turn into lists of requests before any budget is
checked, so an absurd value (``--population 1000000000``) would build a billion meta-prompts and
exhaust memory. Each bound is far above any useful setting and far below that. The CLI's flags take
their ``min``/``max`` from here (typer then names the flag in a one-line error), and the optimizer
configs check the same numbers when they are built from Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """The smallest and largest value a count may take."""

    low: int
    high: int


BOUNDS: dict[str, Bound] = {
    # search sizes
    "population": Bound(1, 1_000),
    "offspring": Bound(1, 1_000),
    "proposals": Bound(1, 1_000),
    "block_size": Bound(1, 100_000),
    "max_blocks": Bound(1, 10_000),
    "max_shots": Bound(0, 100),
    "fewshot_pool": Bound(1, 1_000_000),
    "dev_size": Bound(1, 10_000_000),
    "max_shown": Bound(1, 1_000),
    "examples_shown": Bound(0, 1_000),
    # completions
    "max_tokens": Bound(1, 1_000_000),
    # rubric refinement and planning
    "rounds": Bound(0, 1_000),
    "samples": Bound(1, 1_000),
    "episodes": Bound(1, 100_000),
    "concurrency": Bound(1, 4_096),
}


#: Generations without a better best after which a run stops by default (it has converged, or its
#: population collapsed): the CLI's, the library's and the bench's default. Kept here, not in
#: budget.py, so that the CLI's option declarations do not import the budget layer at start-up.
DEFAULT_NO_IMPROVEMENT = 5


def flag(name: str, *, low: int | None = None) -> dict[str, Any]:
    """``min=`` and ``max=`` for the typer option of ``name`` (``low`` raises the minimum)."""
    bound = BOUNDS[name]
    return {"min": bound.low if low is None else max(low, bound.low), "max": bound.high}


def check(owner: object, names: tuple[str, ...], *, low: int | None = None) -> None:
    """Raise ValueError naming the first of ``owner``'s fields ``names`` outside its bound
    (``low``, if given, raises every minimum: e.g. a population of at least 2)."""
    for name in names:
        value = getattr(owner, name)
        bound = BOUNDS[name]
        minimum = bound.low if low is None else max(low, bound.low)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= bound.high:
            raise ValueError(f"{name} must be an integer from {minimum:,} to {bound.high:,}, got {value!r}")
