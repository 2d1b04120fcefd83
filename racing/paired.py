"""Paired one-sided tests between every ordered pair of candidates, vectorized.

All candidates of a race are scored on the same examples, so "a is better than b" is a test on
the paired differences a - b. A race asks this for every ordered pair at once; the matrix is
computed in a few array operations instead of C·(C-1) separate test calls.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence, Union

import numpy as np
from scipy import stats

__all__ = [
    "PAIRED_TESTS",
    "PairedTest",
    "TestName",
    "ZeroVariance",
    "beats_matrix",
    "pairwise_pvalues",
    "ttest_greater",
    "wilcoxon_greater",
]

TestName = Literal["ttest", "wilcoxon"]
ZeroVariance = Literal["sign", "never"]

#: A paired test: rows of paired differences (pairs, examples), none of them constant, to the
#: one-sided p-values of "the differences are greater than zero", one per row.
PairedTest = Callable[[np.ndarray], np.ndarray]

#: scipy's Wilcoxon zero handling used here: zero differences (ties between the pair on an
#: example) are dropped before ranking, as in Wilcoxon's original test and scipy's default.
WILCOXON_ZERO_METHOD = "wilcox"

#: Differences within this many units of the score scale count as equal (float rounding only).
_RELATIVE_TOLERANCE = 1e-12

#: scipy's "auto" Wilcoxon uses the exact null distribution up to this many examples.
_WILCOXON_EXACT_MAX_N = 50
#: ... and an exhaustive permutation test (2**n sign flips) up to this many when there are ties.
_WILCOXON_PERMUTATION_MAX_N = 13


def ttest_greater(differences: np.ndarray) -> np.ndarray:
    """One-sided paired t-test per row, as ``scipy.stats.ttest_rel(a, b, alternative="greater")``."""
    n = differences.shape[1]
    mean = differences.mean(axis=1)
    sd = differences.std(axis=1, ddof=1)
    t = mean / (sd / np.sqrt(n))
    return stats.t.sf(t, df=n - 1)


def wilcoxon_greater(differences: np.ndarray) -> np.ndarray:
    """One-sided Wilcoxon signed-rank test per row, equal to calling (with the installed scipy)
    ``scipy.stats.wilcoxon(d, alternative="greater", zero_method="wilcox")`` on each row alone.

    scipy's ``method="auto"`` picks the exact, permutation or normal-approximation null per call
    from that row's zeros and ties; rows are grouped by the method they would get alone and each
    group is tested in one vectorized call, so the batch matches the per-pair results exactly.
    """
    m, n = differences.shape
    out = np.empty(m)
    if m == 0:
        return out
    if n > _WILCOXON_EXACT_MAX_N:
        groups = {"asymptotic": np.ones(m, dtype=bool)}
    else:
        magnitudes = np.sort(np.abs(differences), axis=1)
        tied = (np.diff(magnitudes, axis=1) == 0).any(axis=1) | (magnitudes[:, 0] == 0)
        small = n <= _WILCOXON_PERMUTATION_MAX_N
        groups = {
            "exact": ~tied,
            "permutation": tied if small else np.zeros(m, dtype=bool),
            "asymptotic": np.zeros(m, dtype=bool) if small else tied,
        }
    for method, rows in groups.items():
        if not rows.any():
            continue
        if method == "permutation":
            out[rows] = _signflip_pvalues(differences[rows])
        else:
            out[rows] = stats.wilcoxon(
                differences[rows],
                alternative="greater",
                zero_method=WILCOXON_ZERO_METHOD,
                method=method,
                axis=1,
            ).pvalue
    return out


def _signflip_pvalues(differences: np.ndarray) -> np.ndarray:
    """Exhaustive sign-flip null of the signed-rank sum, for small samples with ties or zeros.

    This is the test scipy's ``method="auto"`` runs there (``permutation_test`` over all 2**n sign
    flips, same tie tolerance), computed as one matrix product instead of scipy's slow batch path.
    """
    n = differences.shape[1]
    magnitudes = np.where(differences == 0, np.nan, np.abs(differences))  # zeros are dropped
    ranks = np.nan_to_num(stats.rankdata(magnitudes, axis=1, nan_policy="omit"), nan=0.0)
    observed = (ranks * (differences > 0)).sum(axis=1)
    flips = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)  # (2**n, n)
    slack = np.abs(observed) * np.finfo(float).eps * 100
    out = np.empty(len(differences))
    for start in range(0, len(differences), 256):
        chunk = slice(start, start + 256)
        null = flips @ ranks[chunk].T  # (2**n, rows): rank sum of the positive signs
        out[chunk] = (null >= observed[chunk] - slack[chunk]).mean(axis=0)
    return out


PAIRED_TESTS: dict[str, PairedTest] = {"ttest": ttest_greater, "wilcoxon": wilcoxon_greater}


def _resolve(test: Union[str, PairedTest]) -> PairedTest:
    if callable(test):
        return test
    try:
        return PAIRED_TESTS[test]
    except KeyError:
        raise ValueError(
            f"unknown racing test {test!r}: use one of {sorted(PAIRED_TESTS)} or a function"
        ) from None


def pairwise_pvalues(
    scores: np.ndarray | Sequence[Sequence[float]],
    test: Union[TestName, str, PairedTest] = "ttest",
    *,
    zero_variance: ZeroVariance = "sign",
    penalty: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """p-values of "a's scores are greater than b's" for every ordered pair, from paired differences.

    ``scores`` has shape (candidates, examples); ``result[a, b]`` is the one-sided p-value of the
    test on ``d = scores[a] - scores[b]``; the diagonal is 1. ``penalty`` (one number per candidate)
    is subtracted from every score of that candidate; passing it here rather than subtracting it
    beforehand keeps the differences of identical predictions exactly constant.

    Zero variance (all paired differences equal, within float rounding) leaves a t statistic of
    ±inf or NaN, so it is decided by rule, for both tests:

    - identical candidates (every difference 0): p = 1, whatever ``zero_variance`` says: they are
      never separated;
    - a constant non-zero difference d (identical predictions, different length penalties):
      ``"sign"`` gives p = 0 when d > 0 and 1 when d < 0, as t = ±inf would (the constant
      difference decides); ``"never"`` gives p = 1 (only varying evidence separates).

    With fewer than two examples no test is possible and every p is 1.
    """
    if zero_variance not in ("sign", "never"):
        raise ValueError(f"zero_variance must be 'sign' or 'never', got {zero_variance!r}")
    run_test = _resolve(test)
    matrix = np.asarray(scores, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"scores must have shape (candidates, examples), got {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("scores must be finite (found NaN or infinity)")
    n_cand, n_ex = matrix.shape
    shift = np.zeros(n_cand) if penalty is None else np.asarray(penalty, dtype=float)
    if shift.shape != (n_cand,) or not np.all(np.isfinite(shift)):
        raise ValueError(
            f"penalty must hold one finite number per candidate ({n_cand}), got shape {shift.shape}"
        )

    pvalues = np.ones((n_cand, n_cand))
    if n_cand < 2 or n_ex < 2:
        return pvalues

    first, second = np.triu_indices(n_cand, k=1)
    diffs = (matrix[first] - matrix[second]) - (shift[first] - shift[second])[:, None]
    scale = max(1.0, float(np.abs(matrix).max()), float(np.abs(shift).max()))
    tolerance = _RELATIVE_TOLERANCE * scale
    diffs[np.abs(diffs) <= tolerance] = 0.0  # rounding noise is a tie, not evidence

    constant = (diffs.max(axis=1) - diffs.min(axis=1)) <= tolerance
    level = diffs[:, 0]
    forward = np.ones(len(first))  # p of "first > second"
    backward = np.ones(len(first))  # p of "second > first"
    if zero_variance == "sign":
        forward[constant & (level > 0)] = 0.0
        backward[constant & (level < 0)] = 0.0

    varying = ~constant
    if varying.any():
        rows = diffs[varying]
        both = np.asarray(run_test(np.concatenate([rows, -rows])), dtype=float)
        forward[varying] = both[: len(rows)]
        backward[varying] = both[len(rows) :]

    pvalues[first, second] = forward
    pvalues[second, first] = backward
    return pvalues


def beats_matrix(
    scores: np.ndarray | Sequence[Sequence[float]],
    *,
    alpha: float = 0.2,
    test: Union[TestName, str, PairedTest] = "ttest",
    zero_variance: ZeroVariance = "sign",
    penalty: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """``beats[a, b]``: a is significantly better than b (p < alpha); the diagonal is False."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    beats = pairwise_pvalues(scores, test, zero_variance=zero_variance, penalty=penalty) < alpha
    np.fill_diagonal(beats, False)
    return beats
