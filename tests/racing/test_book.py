"""ScoreBook: the cache that keeps racing from paying twice for a block."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from promptopt.racing import ScoreBook


def test_record_and_query() -> None:
    book = ScoreBook()
    book.record("a", 1, [1, 0, 1])
    book.record("a", 0, [0.5, 0.5, 0.5])
    book.record("b", 0, [1, 1, 1])
    assert book.evaluations == 3
    assert book.has("a", 0) and book.has("a", 1) and not book.has("b", 1) and not book.has("zz", 0)
    assert book.blocks_of("a") == [0, 1] and book.blocks_of("zz") == []
    np.testing.assert_array_equal(book.get("a", 1), [1.0, 0.0, 1.0])
    assert book.mean("a") == pytest.approx((1 + 0 + 1 + 1.5) / 6)
    assert book.mean("a", [1]) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(book.scores("a"), [0.5, 0.5, 0.5, 1, 0, 1])  # block order
    assert "a" in book and len(book) == 2 and book.candidates() == ["a", "b"]


def test_scores_are_copied_and_read_only() -> None:
    book = ScoreBook()
    source = np.array([1.0, 0.0])
    book.record("a", 0, source)
    source[0] = 9.0
    assert book.get("a", 0)[0] == 1.0
    with pytest.raises(ValueError):
        book.get("a", 0)[0] = 5.0


def test_never_re_recorded_and_bad_input() -> None:
    book = ScoreBook()
    book.record("a", 0, [1.0])
    with pytest.raises(ValueError, match="already has scores"):
        book.record("a", 0, [1.0])
    with pytest.raises(ValueError):
        book.record("a", 1, [])
    with pytest.raises(ValueError):
        book.record("a", 2, [float("nan")])
    with pytest.raises(ValueError):
        book.record("a", -1, [1.0])
    assert book.evaluations == 1
    with pytest.raises(KeyError):
        book.get("a", 3)
    with pytest.raises(KeyError):
        book.mean("a", [0, 3])
    with pytest.raises(ValueError):
        book.mean("nobody")


def test_json_round_trip() -> None:
    book = ScoreBook()
    book.record("a", 0, [1, 0])
    book.record("a", 2, [0.25, 0.75])
    book.record("b", 1, [0, 0])
    data = json.loads(json.dumps(book.to_dict()))
    again = ScoreBook.from_dict(data)
    assert again.to_dict() == book.to_dict()
    assert again.evaluations == 3
    assert again.blocks_of("a") == [0, 2]
    np.testing.assert_array_equal(again.get("a", 2), [0.25, 0.75])
    with pytest.raises(ValueError, match="not a ScoreBook"):
        ScoreBook.from_dict({"format": "other", "version": 1, "scores": {}})


def test_a_bad_snapshot_names_the_field() -> None:
    from promptopt.records import RecordError

    good = {"format": "promptopt.racing.ScoreBook", "version": 1, "scores": {"a": {"0": [1.0]}}}
    assert ScoreBook.from_dict({k: v for k, v in good.items()}).evaluations == 1  # absent: one per record
    for bad, message in [
        ({**good, "version": 2}, "version: unknown schema version 2"),
        ({**good, "scores": {"a": {"0": ["high"]}}}, "scores.a.0.0: Input should be a valid number"),
        ({**good, "scores": {"a": {"-1": [1.0]}}}, "scores.a.-1: block index must be >= 0"),
        ({**good, "evaluations": "many"}, "evaluations: Input should be a valid integer"),
    ]:
        with pytest.raises(RecordError, match=f"^journal: {re.escape(message)}"):
            ScoreBook.from_dict(bad, where="journal")
