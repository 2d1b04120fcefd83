"""Racing: evaluation blocks, paired tests and elimination. Knows nothing of LLMs.

Installed as ``promptopt.racing``; import it only under that name. Candidates are opaque string
ids and scores are float arrays; the caller supplies an async ``evaluate(ids, block)``::

    from promptopt.racing import ScoreBook, make_blocks, race

    blocks = make_blocks(len(dev), block_size=30, seed=42)
    result = await race(ids, blocks=blocks, evaluate=evaluate, book=ScoreBook(), keep=10)
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.racing.blocks": ("make_blocks",),
    "promptopt.racing.book": ("ScoreBook",),
    "promptopt.racing.paired": (
        "PAIRED_TESTS", "PairedTest", "TestName", "ZeroVariance", "beats_matrix", "pairwise_pvalues",
    ),
    "promptopt.racing.racer": ("Evaluate", "eliminate", "race"),
    "promptopt.racing.records": ("BlockEvent", "Elimination", "RaceResult"),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
