"""Pairwise p-values and the beats matrix against scipy, and the zero-variance rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from promptopt.racing import PAIRED_TESTS, beats_matrix, pairwise_pvalues


def _random(seed: int, kind: str, shape: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(size=shape)
    if kind == "binary":  # accuracy-like: many ties and zero differences
        return (rng.random(shape) < rng.uniform(0.3, 0.9, size=(shape[0], 1))).astype(float)
    return rng.integers(0, 4, size=shape).astype(float)


def _per_pair(scores: np.ndarray, one) -> np.ndarray:
    n = len(scores)
    out = np.ones((n, n))
    for a in range(n):
        for b in range(n):
            d = scores[a] - scores[b]
            if a != b and not np.all(d == d[0]):
                out[a, b] = one(scores[a], scores[b])
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind, shape", [("normal", (6, 30)), ("binary", (7, 30)), ("ints", (5, 12))])
def test_ttest_matches_scipy_ttest_rel(seed: int, kind: str, shape: tuple[int, int]) -> None:
    scores = _random(seed, kind, shape)
    expected = _per_pair(scores, lambda a, b: stats.ttest_rel(a, b, alternative="greater").pvalue)
    got = pairwise_pvalues(scores, "ttest", zero_variance="never")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    assert np.all(np.diag(got) == 1.0)


# the cases cover every null scipy's "auto" picks: exact (no ties, n <= 50), permutation
# (ties or zeros, n <= 13; scipy's own per-pair calls are slow there, so few pairs), normal
# approximation (ties with 13 < n <= 50, or n > 50)
_WILCOXON_CASES = [
    *[("normal", (6, 20), seed) for seed in range(3)],
    *[("normal", (5, 60), seed) for seed in range(2)],
    *[("binary", (6, 30), seed) for seed in range(3)],
    *[("binary", (5, 70), seed) for seed in range(2)],
    *[("binary", (3, 8), seed) for seed in range(3)],
    ("ints", (2, 13), 0),
]


@pytest.mark.parametrize("kind, shape, seed", _WILCOXON_CASES)
def test_wilcoxon_matches_scipy(kind: str, shape: tuple[int, int], seed: int) -> None:
    scores = _random(seed, kind, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _per_pair(
            scores, lambda a, b: stats.wilcoxon(a - b, alternative="greater", zero_method="wilcox").pvalue
        )
    got = pairwise_pvalues(scores, "wilcoxon", zero_variance="never")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("test", ["ttest", "wilcoxon"])
@pytest.mark.parametrize("option", ["sign", "never"])
def test_identical_candidates_never_separate(test: str, option: str) -> None:
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    p = pairwise_pvalues(np.stack([x, x, x - 0.5]), test, zero_variance=option)
    assert p[0, 1] == 1.0 and p[1, 0] == 1.0
    assert not beats_matrix(np.stack([x, x]), test=test, zero_variance=option, alpha=0.999).any()


@pytest.mark.parametrize("test", ["ttest", "wilcoxon"])
def test_constant_difference_decided_by_option(test: str) -> None:
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    scores = np.stack([x, x - 0.02])  # identical predictions, b pays a larger length penalty
    sign = pairwise_pvalues(scores, test, zero_variance="sign")
    assert sign[0, 1] == 0.0 and sign[1, 0] == 1.0
    never = pairwise_pvalues(scores, test, zero_variance="never")
    assert never[0, 1] == 1.0 and never[1, 0] == 1.0
    assert beats_matrix(scores, test=test, zero_variance="sign").tolist() == [[False, True], [False, False]]
    assert not beats_matrix(scores, test=test, zero_variance="never").any()


def test_rounding_noise_is_still_a_constant_difference() -> None:
    x = np.array([1.0, 0.0, 1.0, 0.0])
    scores = np.stack([x - 0.1, x - 0.3])  # differences 0.20000000000000007 and 0.19999999999999998
    assert np.ptp(scores[0] - scores[1]) > 0
    assert pairwise_pvalues(scores, zero_variance="never")[0, 1] == 1.0
    assert pairwise_pvalues(scores, zero_variance="sign")[0, 1] == 0.0


@pytest.mark.parametrize("test", ["ttest", "wilcoxon"])
def test_penalty_argument_equals_subtracting_it(test: str) -> None:
    scores = _random(3, "normal", (5, 25))
    penalty = np.array([0.0, 0.1, 0.05, 0.3, 0.2])
    np.testing.assert_allclose(
        pairwise_pvalues(scores, test, penalty=penalty), pairwise_pvalues(scores - penalty[:, None], test)
    )
    x = np.array([1.0, 0.0, 1.0, 1.0])
    p = pairwise_pvalues(np.stack([x, x]), test, penalty=[0.01, 0.03], zero_variance="sign")
    assert p[0, 1] == 0.0 and p[1, 0] == 1.0


def test_degenerate_shapes_and_arguments() -> None:
    assert pairwise_pvalues(np.array([[1.0, 2.0]])).tolist() == [[1.0]]
    assert np.all(pairwise_pvalues(np.array([[1.0], [0.0]])) == 1.0)  # one example: no test
    with pytest.raises(ValueError):
        pairwise_pvalues(np.zeros(3))
    with pytest.raises(ValueError):
        pairwise_pvalues(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="unknown racing test"):
        pairwise_pvalues(np.zeros((2, 3)), "ztest")
    with pytest.raises(ValueError):
        pairwise_pvalues(np.zeros((2, 3)), zero_variance="maybe")
    with pytest.raises(ValueError):
        pairwise_pvalues(np.zeros((2, 3)), penalty=[0.1])
    with pytest.raises(ValueError):
        beats_matrix(np.zeros((2, 3)), alpha=0.0)


def test_custom_test_function() -> None:
    scores = _random(1, "normal", (4, 20))
    seen: list[tuple[int, int]] = []

    def always_significant(differences: np.ndarray) -> np.ndarray:
        seen.append(differences.shape)
        return np.where(differences.mean(axis=1) > 0, 0.0, 1.0)

    beats = beats_matrix(scores, test=always_significant)
    assert seen == [(12, 20)]  # both directions of the 6 pairs in one call
    means = scores.mean(axis=1)
    assert beats.tolist() == (means[:, None] > means[None, :]).tolist()
    assert set(PAIRED_TESTS) == {"ttest", "wilcoxon"}


def test_beats_is_pvalue_below_alpha() -> None:
    scores = _random(2, "binary", (6, 30))
    p = pairwise_pvalues(scores)
    for alpha in (0.05, 0.2, 0.5):
        expected = p < alpha
        np.fill_diagonal(expected, False)
        assert (beats_matrix(scores, alpha=alpha) == expected).all()
