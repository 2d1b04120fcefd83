"""make_blocks: one seeded shuffle, equal disjoint blocks, leftovers dropped."""

from __future__ import annotations

import random

import pytest

from promptopt.racing import make_blocks


def test_sizes_and_leftover_dropped() -> None:
    blocks = make_blocks(103, 10, seed=42)
    assert len(blocks) == 10
    assert all(len(b) == 10 and isinstance(b, tuple) for b in blocks)
    used = [i for b in blocks for i in b]
    assert len(set(used)) == 100  # disjoint
    assert set(used) <= set(range(103))


def test_deterministic_under_seed_and_equal_to_one_shuffle() -> None:
    assert make_blocks(300, 30, seed=42) == make_blocks(300, 30, seed=42)
    assert make_blocks(300, 30, seed=42) != make_blocks(300, 30, seed=43)
    order = list(range(25))
    random.Random(7).shuffle(order)
    assert make_blocks(25, 4, seed=7) == [tuple(order[i : i + 4]) for i in range(0, 24, 4)]


def test_exact_fit_uses_every_example() -> None:
    blocks = make_blocks(300, 30, seed=44)
    assert sorted(i for b in blocks for i in b) == list(range(300))


@pytest.mark.parametrize("n, size", [(10, 0), (10, -1), (5, 6), (0, 1)])
def test_invalid(n: int, size: int) -> None:
    with pytest.raises(ValueError):
        make_blocks(n, size, seed=0)
