"""Racing: evaluation blocks, paired tests and elimination. Knows nothing of LLMs.

Installed as ``promptopt.racing``; import it only under that name. Candidates are opaque string
ids and scores are float arrays; the caller supplies an async ``evaluate(ids, block)``::

    from promptopt.racing import ScoreBook, make_blocks, race

    blocks = make_blocks(len(dev), block_size=30, seed=42)
    result = await race(ids, blocks=blocks, evaluate=evaluate, book=ScoreBook(), keep=10)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports

__all__ = [
    "PAIRED_TESTS",
    "BlockEvent",
    "Elimination",
    "Evaluate",
    "PairedTest",
    "RaceResult",
    "ScoreBook",
    "TestName",
    "ZeroVariance",
    "beats_matrix",
    "eliminate",
    "make_blocks",
    "pairwise_pvalues",
    "race",
]

_WHERE = {
    "make_blocks": "promptopt.racing.blocks",
    "ScoreBook": "promptopt.racing.book",
    "PAIRED_TESTS": "promptopt.racing.paired",
    "PairedTest": "promptopt.racing.paired",
    "TestName": "promptopt.racing.paired",
    "ZeroVariance": "promptopt.racing.paired",
    "beats_matrix": "promptopt.racing.paired",
    "pairwise_pvalues": "promptopt.racing.paired",
    "BlockEvent": "promptopt.racing.records",
    "Elimination": "promptopt.racing.records",
    "RaceResult": "promptopt.racing.records",
    "Evaluate": "promptopt.racing.racer",
    "eliminate": "promptopt.racing.racer",
    "race": "promptopt.racing.racer",
}

if TYPE_CHECKING:
    from promptopt.racing.blocks import make_blocks
    from promptopt.racing.book import ScoreBook
    from promptopt.racing.paired import (
        PAIRED_TESTS,
        PairedTest,
        TestName,
        ZeroVariance,
        beats_matrix,
        pairwise_pvalues,
    )
    from promptopt.racing.racer import Evaluate, eliminate, race
    from promptopt.racing.records import BlockEvent, Elimination, RaceResult


__getattr__ = lazy_exports(__name__, _WHERE)
