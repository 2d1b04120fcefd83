"""The records every task is made of: examples, parsed answers, splits.

Kept free of I/O and of the LLM layer so that loaders, parsers, metrics and evaluation can all
depend on them without depending on each other.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class Example:
    """One labelled example. ``inputs`` maps input field names to their text.

    ``uid`` is stable across runs (the source and line, or a content hash), so per-example scores
    can be cached and compared between candidates.
    """

    inputs: Mapping[str, str]
    target: str
    uid: str

    def content_hash(self) -> str:
        blob = json.dumps({"inputs": dict(self.inputs), "target": self.target}, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ParsedAnswer:
    """What an answer parser extracted from a model's output.

    ``ok`` is False when no answer could be extracted (missing tag, no label, two conflicting
    answers); ``error`` then says why. A failed parse is scored as wrong, never mapped to a default.
    """

    value: str | None
    ok: bool
    error: str | None = None

    @classmethod
    def failed(cls, why: str) -> "ParsedAnswer":
        return cls(value=None, ok=False, error=why)


@runtime_checkable
class AnswerParser(Protocol):
    """Extracts the answer from raw model output. ``spec()`` is JSON data that rebuilds it."""

    def parse(self, text: str) -> ParsedAnswer:
        ...

    def spec(self) -> dict[str, object]:
        ...


@runtime_checkable
class Metric(Protocol):
    """Scores one parsed prediction against its target, in [0, 1]."""

    name: str

    def score(self, prediction: ParsedAnswer, target: str) -> float:
        ...


@dataclass(frozen=True)
class Splits:
    """dev (scored during optimization), few-shot pool (carved from dev), test (held out)."""

    dev: tuple[Example, ...]
    fewshot_pool: tuple[Example, ...]
    test: tuple[Example, ...]


def carve_fewshot_pool(
    dev: Sequence[Example], *, pool_size: int, seed: int
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """Split dev into (dev without the pool, pool) with a seeded shuffle; never touches test."""
    if pool_size < 0:
        raise ValueError(f"pool_size must be >= 0, got {pool_size}")
    if pool_size >= len(dev) and pool_size > 0:
        raise ValueError(
            f"the few-shot pool ({pool_size}) must be smaller than the dev split ({len(dev)})"
        )
    order = list(range(len(dev)))
    random.Random(seed).shuffle(order)
    pool_idx = set(order[:pool_size])
    pool = tuple(dev[i] for i in order[:pool_size])
    rest = tuple(example for i, example in enumerate(dev) if i not in pool_idx)
    return rest, pool


def fingerprint_examples(examples: Sequence[Example]) -> str:
    """A hash of the examples' content and order: identifies the exact data a score is about."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(example.content_hash().encode("ascii"))
    return digest.hexdigest()


@dataclass(frozen=True)
class SourceInfo:
    """Where a task's data came from, for `promptopt tasks` and artifacts."""

    kind: str  # "builtin", "directory", "file", "huggingface"
    location: str
    extra: Mapping[str, str] = field(default_factory=dict)
