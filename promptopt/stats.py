"""Confidence intervals and paired comparisons of per-example scores.

Prompt scores come from a few hundred examples, so every reported score carries an interval and
every "A beats B" claim a paired test on the same examples: McNemar's exact test for right/wrong
scores, a paired bootstrap for anything else. Everything is deterministic under its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _sp

__all__ = [
    "Estimate",
    "McNemarResult",
    "PairedBootstrapResult",
    "mcnemar_exact",
    "mean_interval",
    "paired_bootstrap",
]

#: Resampled rows handled at once by the bootstrap, times the number of examples (bounds memory).
_BOOTSTRAP_CELLS = 2_000_000


@dataclass(frozen=True)
class Estimate:
    """A mean with its two-sided interval; ``method`` is "wilson" or "t"."""

    value: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = 0.95


@dataclass(frozen=True)
class McNemarResult:
    """Counts of the 2x2 paired table and the exact two-sided p-value for "a and b differ"."""

    n: int
    a_only: int
    b_only: int
    both: int
    neither: int
    p_value: float


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Mean of a - b over examples, its percentile interval and a two-sided bootstrap p-value."""

    n: int
    mean_diff: float
    low: float
    high: float
    p_value: float
    confidence: float = 0.95
    n_resamples: int = 10000


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")


def _as_scores(name: str, scores: Sequence[float]) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of scores, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: scores must be finite numbers (found NaN or infinity)")
    return array


def mean_interval(scores: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean of ``scores`` with a ``confidence`` interval.

    All-0/1 scores use the Wilson score interval, which stays inside [0, 1] and behaves at 0% and
    100% where the normal approximation collapses. Other scores use the Student t interval. A
    single non-binary score says nothing about spread, so its interval is (-inf, inf) rather than
    a misleading zero-width one.
    """
    _check_confidence(confidence)
    x = _as_scores("scores", scores)
    n = int(x.size)
    if n == 0:
        raise ValueError("mean_interval: no scores")
    mean = float(x.mean())
    if np.all((x == 0.0) | (x == 1.0)):
        z = float(_sp.norm.ppf(0.5 + confidence / 2))
        denom = 1 + z * z / n
        center = (mean + z * z / (2 * n)) / denom
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / denom
        # At 0% and 100% the bound is exactly 0 or 1; say so rather than leave a rounding error.
        low = 0.0 if mean == 0.0 else max(0.0, center - half)
        high = 1.0 if mean == 1.0 else min(1.0, center + half)
        return Estimate(mean, low, high, n, "wilson", confidence)
    if n == 1:
        return Estimate(mean, -math.inf, math.inf, n, "t", confidence)
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(_sp.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    return Estimate(mean, mean - half, mean + half, n, "t", confidence)


def _as_correct(name: str, values: Sequence[bool]) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of booleans, got shape {array.shape}")
    if array.dtype != bool:
        if array.size and not np.all(np.isin(array, (0, 1))):
            raise ValueError(f"{name}: expected booleans or 0/1 values")
        array = array.astype(bool)
    return array


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> McNemarResult:
    """Exact McNemar test: a binomial test (p = 1/2) on the pairs where exactly one is right.

    Pairs both get right or both get wrong carry no information about which is better; with no
    discordant pair at all the p-value is 1.
    """
    a = _as_correct("a_correct", a_correct)
    b = _as_correct("b_correct", b_correct)
    if a.size != b.size:
        raise ValueError(f"mcnemar_exact: {a.size} results for a but {b.size} for b; pair them by example")
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(~a & b))
    both = int(np.sum(a & b))
    neither = int(np.sum(~a & ~b))
    discordant = a_only + b_only
    p_value = 1.0 if discordant == 0 else float(_sp.binomtest(b_only, discordant, 0.5).pvalue)
    return McNemarResult(int(a.size), a_only, b_only, both, neither, min(1.0, p_value))


def paired_bootstrap(
    a_scores: Sequence[float],
    b_scores: Sequence[float],
    *,
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrapResult:
    """Paired bootstrap of mean(a - b): resample examples (not scores) with replacement.

    The interval is the percentile interval of the resampled mean differences. The p-value is
    ``min(1, 2 * share of resampled differences at or beyond 0 on the side opposite the observed
    difference)``; an observed difference of exactly 0 gives 1. Its resolution is
    ``1 / n_resamples``, so 0 means "below that".
    """
    _check_confidence(confidence)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    a = _as_scores("a_scores", a_scores)
    b = _as_scores("b_scores", b_scores)
    if a.size != b.size:
        raise ValueError(f"paired_bootstrap: {a.size} scores for a but {b.size} for b; pair them by example")
    n = int(a.size)
    if n == 0:
        raise ValueError("paired_bootstrap: no scores")
    diffs = a - b
    observed = float(diffs.mean())
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOTSTRAP_CELLS // n)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diffs[idx].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = (float(q) for q in np.quantile(means, [alpha / 2, 1 - alpha / 2]))
    if observed > 0:
        p_value = min(1.0, 2 * float(np.mean(means <= 0)))
    elif observed < 0:
        p_value = min(1.0, 2 * float(np.mean(means >= 0)))
    else:
        p_value = 1.0
    return PairedBootstrapResult(n, observed, low, high, p_value, confidence, n_resamples)
