"""ScoreBook: per-example scores cached by (candidate, block).

Racing must never pay twice for the same evaluation: a survivor carried into the next race keeps
the blocks it was already scored on. The book is the single place those scores live, and it
round-trips through JSON so a run journal can restore it on resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from promptopt import records

__all__ = ["ScoreBook"]

_FORMAT = "promptopt.racing.ScoreBook"
_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class _Snapshot(records.Record):
    """A book as JSON: scores by candidate, then by block index (a string key in JSON)."""

    format: str = _FORMAT
    version: int = _VERSION
    evaluations: int | None = None  # absent when read: one per (candidate, block) recorded
    scores: dict[str, dict[int, list[float]]]


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
        scores = {cid: {b: blocks[b].tolist() for b in sorted(blocks)} for cid, blocks in self._scores.items()}
        return _Snapshot(evaluations=self.evaluations, scores=scores).to_dict()

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "ScoreBook snapshot") -> "ScoreBook":
        """Rebuild a book written by :meth:`to_dict` (the evaluation counter included).

        Raises :class:`~promptopt.records.RecordError` (a ``ValueError``) naming the bad field.
        """
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            shown = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise records.RecordError(f"{where}: format: not a ScoreBook snapshot ({shown!r})")
        records.check_schema(data, where=where, known=(_VERSION,), key="version")
        snapshot = _Snapshot.from_dict(data, where=where)
        book = cls()
        for cid, blocks in snapshot.scores.items():
            for block, scores in blocks.items():
                try:
                    book.record(cid, block, scores)
                except ValueError as exc:
                    raise records.RecordError(f"{where}: scores.{cid}.{block}: {exc}") from None
        if snapshot.evaluations is not None:
            book.evaluations = snapshot.evaluations
        return book
