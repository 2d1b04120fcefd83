"""Intervals and paired tests against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from promptopt.stats import Estimate, McNemarResult, mcnemar_exact, mean_interval, paired_bootstrap

# ---------------------------------------------------------------------------- mean_interval


def test_wilson_known_value() -> None:
    est = mean_interval([1.0] * 80 + [0.0] * 20)
    assert est.method == "wilson"
    assert (est.value, est.n, est.confidence) == (0.8, 100, 0.95)
    assert est.low == pytest.approx(0.7112, abs=1e-4)
    assert est.high == pytest.approx(0.8666, abs=1e-4)


def test_wilson_stays_inside_zero_one_at_the_extremes() -> None:
    all_right = mean_interval([True] * 30)
    assert all_right.value == 1.0 and all_right.high == 1.0
    # Wilson at 30/30: low = n / (n + z^2)
    z = stats.norm.ppf(0.975)
    assert all_right.low == pytest.approx(30 / (30 + z * z))
    all_wrong = mean_interval([0] * 30)
    assert all_wrong.low == 0.0 and all_wrong.high == pytest.approx(z * z / (30 + z * z))
    single = mean_interval([1])
    assert single.method == "wilson" and 0 < single.low < single.high == 1.0


def test_wilson_confidence_widens_the_interval() -> None:
    scores = [1] * 7 + [0] * 3
    narrow, wide = mean_interval(scores, confidence=0.8), mean_interval(scores, confidence=0.99)
    assert wide.low < narrow.low < 0.7 < narrow.high < wide.high
    assert wide.confidence == 0.99


def test_t_interval_matches_scipy() -> None:
    scores = [0.2, 0.5, 0.9, 0.4, 0.65, 1.0, 0.0]
    est = mean_interval(scores, confidence=0.9)
    low, high = stats.t.interval(0.9, len(scores) - 1, loc=np.mean(scores), scale=stats.sem(scores))
    assert est.method == "t"
    assert est.value == pytest.approx(np.mean(scores))
    assert (est.low, est.high) == (pytest.approx(low), pytest.approx(high))


def test_t_interval_edge_cases() -> None:
    constant = mean_interval([0.5, 0.5, 0.5])
    assert (constant.low, constant.high) == (0.5, 0.5)
    single = mean_interval([0.4])
    assert single == Estimate(0.4, -math.inf, math.inf, 1, "t")


def test_mean_interval_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no scores"):
        mean_interval([])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([0.5, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1, 0], confidence=1.0)


# ---------------------------------------------------------------------------- McNemar


def paired(a_only: int, b_only: int, both: int, neither: int) -> tuple[list[bool], list[bool]]:
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return a, b


def test_mcnemar_counts_and_scipy_p_value() -> None:
    a, b = paired(12, 3, 40, 5)
    result = mcnemar_exact(a, b)
    assert result == McNemarResult(60, 12, 3, 40, 5, pytest.approx(stats.binomtest(3, 15, 0.5).pvalue))
    assert result.p_value < 0.05


def test_mcnemar_textbook_values() -> None:
    # 1 vs 9 discordant: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    assert mcnemar_exact(*paired(1, 9, 20, 20)).p_value == pytest.approx(22 / 1024)
    # 0 vs 5: p = 2 / 2^5
    assert mcnemar_exact(*paired(0, 5, 0, 0)).p_value == pytest.approx(0.0625)
    # symmetric: the test does not care which side is a
    assert mcnemar_exact(*paired(9, 1, 0, 0)).p_value == pytest.approx(22 / 1024)
    assert mcnemar_exact(*paired(4, 4, 1, 1)).p_value == 1.0


def test_mcnemar_without_discordant_pairs_and_bad_input() -> None:
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0
    assert mcnemar_exact([], []).p_value == 1.0
    assert mcnemar_exact(np.array([1, 0, 1]), np.array([0, 0, 1])).a_only == 1
    with pytest.raises(ValueError, match="pair them"):
        mcnemar_exact([True], [True, False])
    with pytest.raises(ValueError, match="booleans"):
        mcnemar_exact([0.5], [1])


# ---------------------------------------------------------------------------- paired bootstrap


def test_bootstrap_is_deterministic_under_the_seed() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(200), rng.random(200)
    first = paired_bootstrap(a, b, n_resamples=2000, seed=3)
    assert first == paired_bootstrap(list(a), list(b), n_resamples=2000, seed=3)
    assert first != paired_bootstrap(a, b, n_resamples=2000, seed=4)
    assert first.mean_diff == pytest.approx(float(np.mean(a - b)))
    assert first.low < first.mean_diff < first.high


def test_bootstrap_identical_inputs() -> None:
    scores = [1, 0, 1, 1, 0, 0.5]
    result = paired_bootstrap(scores, scores)
    assert (result.n, result.mean_diff, result.low, result.high, result.p_value) == (6, 0.0, 0.0, 0.0, 1.0)


def test_bootstrap_clear_difference() -> None:
    result = paired_bootstrap([1] * 100, [0] * 100)
    assert result.p_value < 0.001
    assert result.mean_diff == 1.0 and result.low == pytest.approx(1.0) and result.high == pytest.approx(1.0)
    reverse = paired_bootstrap([0] * 100, [1] * 100)
    assert reverse.mean_diff == -1.0 and reverse.p_value < 0.001


def test_bootstrap_noisy_difference_interval_covers_it() -> None:
    rng = np.random.default_rng(0)
    b = (rng.random(300) < 0.6).astype(float)
    a = np.where(rng.random(300) < 0.15, 1.0, b)  # a fixes some of b's mistakes, never worse
    result = paired_bootstrap(a, b, n_resamples=5000, seed=1)
    assert 0 < result.low < result.mean_diff < result.high
    assert result.p_value < 0.01
    # no real difference: p-value is large and the interval straddles 0
    c = rng.random(300)
    null = paired_bootstrap(c, c[::-1], n_resamples=5000, seed=1)
    assert null.low < 0 < null.high and null.p_value > 0.05


def test_bootstrap_chunking_handles_many_examples() -> None:
    # More resamples than fit in one chunk: still deterministic and consistent.
    a, b = np.ones(5000), np.zeros(5000)
    a[:2500] = 0
    result = paired_bootstrap(a, b, n_resamples=1000, seed=0)
    assert result.mean_diff == 0.5 and 0.47 < result.low < 0.5 < result.high < 0.53


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="pair them"):
        paired_bootstrap([1, 0], [1])
    with pytest.raises(ValueError, match="no scores"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap([1], [0], n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1], [0], confidence=0)
