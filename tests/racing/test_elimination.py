"""eliminate(): dropped exactly when beaten by at least k others."""

from __future__ import annotations

import numpy as np
import pytest

from promptopt.racing import beats_matrix, eliminate


def _base() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random(30) < 0.7).astype(float)


def test_one_clearly_worse_candidate_is_the_only_one_eliminated() -> None:
    base = _base()
    ones, zeros = np.flatnonzero(base == 1), np.flatnonzero(base == 0)
    strong = []
    for i in range(4):  # four equals: each flips one right and one wrong answer of the base
        x = base.copy()
        x[ones[i]], x[zeros[i]] = 0.0, 1.0
        strong.append(x)
    bad = base.copy()
    bad[ones[4:14]] = 0.0  # ten answers worse
    scores = np.stack(strong + [bad])
    beats = beats_matrix(scores, alpha=0.2)
    assert beats[:4, 4].all() and not beats[:, :4].any()
    assert eliminate(beats, 3).tolist() == [False, False, False, False, True]
    assert eliminate(beats, 4).tolist() == [False, False, False, False, True]
    assert not eliminate(beats, 5).any()


def test_beaten_by_keep_minus_one_survives() -> None:
    base = _base()
    scores = np.stack([np.ones(30), np.ones(30), base, base])  # c and d: beaten by a and b only
    beats = beats_matrix(scores)
    assert beats.sum(axis=0).tolist() == [0, 0, 2, 2]
    assert not eliminate(beats, 3).any()
    assert eliminate(beats, 2).tolist() == [False, False, True, True]


def test_column_sums_on_a_hand_made_matrix() -> None:
    beats = np.array(
        [
            [0, 1, 1, 1],
            [0, 0, 1, 1],
            [0, 0, 0, 1],
            [0, 0, 0, 0],
        ],
        dtype=bool,
    )
    assert eliminate(beats, 3).tolist() == [False, False, False, True]
    assert eliminate(beats, 2).tolist() == [False, False, True, True]
    with pytest.raises(ValueError):
        eliminate(beats, 0)
    with pytest.raises(ValueError):
        eliminate(np.zeros((2, 3), dtype=bool), 1)
