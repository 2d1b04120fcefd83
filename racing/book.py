"""ScoreBook: per-example scores cached by (candidate, block).

Racing must never pay twice for the same evaluation: a survivor carried into the next race keeps
the blocks it was already scored on. The book is the single place those scores live, and it
round-trips through JSON so a run journal can restore it on resume.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["ScoreBook"]

_FORMAT = "promptopt.racing.ScoreBook"
_VERSION = 1


def _as_scores(cid: str, block: int, scores: Sequence[float]) -> np.ndarray:
    array = np.array(scores, dtype=float)  # a copy: the caller's buffer may change later
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"scores of {cid!r} on block {block}: expected a non-empty flat sequence, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"scores of {cid!r} on block {block}: must be finite (found NaN or infinity)")
    array.flags.writeable = False
    return array


class ScoreBook:
    """Per-example scores of candidates (opaque string ids) on blocks (integer indices).

    ``evaluations`` counts the (candidate, block) records made, i.e. the block evaluations paid for.
    Recording the same (candidate, block) twice is an error: scores are never re-measured.
    """

    def __init__(self) -> None:
        self._scores: dict[str, dict[int, np.ndarray]] = {}
        self.evaluations: int = 0

    def record(self, cid: str, block: int, scores: Sequence[float]) -> None:
        """Store the per-example scores of ``cid`` on ``block`` (in the block's example order)."""
        if not isinstance(cid, str):
            raise TypeError(f"candidate ids are strings, got {type(cid).__name__}")
        block = int(block)
        if block < 0:
            raise ValueError(f"block index must be >= 0, got {block}")
        if self.has(cid, block):
            raise ValueError(f"{cid!r} already has scores for block {block}; scores are never re-recorded")
        self._scores.setdefault(cid, {})[block] = _as_scores(cid, block, scores)
        self.evaluations += 1

    def has(self, cid: str, block: int) -> bool:
        """Whether ``cid`` has been scored on ``block``."""
        return block in self._scores.get(cid, {})

    def get(self, cid: str, block: int) -> np.ndarray:
        """The (read-only) per-example scores of ``cid`` on ``block``; ``KeyError`` if absent."""
        try:
            return self._scores[cid][block]
        except KeyError:
            raise KeyError(f"{cid!r} has no scores for block {block}") from None

    def blocks_of(self, cid: str) -> list[int]:
        """Sorted indices of the blocks ``cid`` has been scored on (empty for an unknown id)."""
        return sorted(self._scores.get(cid, {}))

    def candidates(self) -> list[str]:
        """Ids with at least one recorded block, in first-recorded order."""
        return list(self._scores)

    def scores(self, cid: str, blocks: Iterable[int] | None = None) -> np.ndarray:
        """Scores of ``cid`` over ``blocks`` (default: all it has), concatenated in block order."""
        chosen = self.blocks_of(cid) if blocks is None else list(blocks)
        if not chosen:
            return np.empty(0, dtype=float)
        return np.concatenate([self.get(cid, b) for b in chosen])

    def mean(self, cid: str, blocks: Iterable[int] | None = None) -> float:
        """Mean over all examples of the given blocks (default: all blocks ``cid`` has).

        Raises ``ValueError`` when there is nothing to average, ``KeyError`` for a missing block.
        """
        values = self.scores(cid, blocks)
        if values.size == 0:
            raise ValueError(f"{cid!r} has no scores to average")
        return float(values.mean())

    def __contains__(self, cid: object) -> bool:
        return cid in self._scores

    def __len__(self) -> int:
        return len(self._scores)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot: block indices become string keys, scores plain float lists."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "evaluations": self.evaluations,
            "scores": {
                cid: {str(block): blocks[block].tolist() for block in sorted(blocks)}
                for cid, blocks in self._scores.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ScoreBook":
        """Rebuild a book written by :meth:`to_dict` (the evaluation counter included)."""
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError(
                f"not a ScoreBook snapshot of version {_VERSION}: format={data.get('format')!r}, "
                f"version={data.get('version')!r}"
            )
        book = cls()
        for cid, blocks in data["scores"].items():
            for block, scores in blocks.items():
                book.record(cid, int(block), scores)
        book.evaluations = int(data.get("evaluations", book.evaluations))
        return book
