"""Evaluation blocks: the dev set shuffled once and cut into equal parts.

Racing compares candidates block by block, so every candidate must see the same examples in the
same blocks; a fixed seed makes the cut reproducible across runs and resumes.
"""

from __future__ import annotations

import random

__all__ = ["make_blocks"]


def make_blocks(n_examples: int, block_size: int, seed: int) -> list[tuple[int, ...]]:
    """Shuffle ``0..n_examples-1`` once with ``random.Random(seed)`` and cut consecutive blocks.

    Leftover examples (fewer than ``block_size``) form no block, so all blocks weigh the same in a
    paired test. Raises ``ValueError`` when ``block_size < 1`` or not even one full block fits.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    if n_examples < block_size:
        raise ValueError(
            f"no full block of {block_size} examples fits in {n_examples} examples: "
            "lower block_size or give more dev examples"
        )
    order = list(range(n_examples))
    random.Random(seed).shuffle(order)
    n_blocks = n_examples // block_size
    return [tuple(order[i * block_size : (i + 1) * block_size]) for i in range(n_blocks)]
