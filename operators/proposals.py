"""What makes a meta-LLM proposal usable, and what a run remembers about the ones that were not.

:func:`promptopt.operators.meta_generate` keeps only tagged, non-echo answers. Real models fail
in more ways than that, so a proposal is also rejected when it was cut off at ``max_tokens``, is
a copy of one of its parents, carries a dev or test example (the search would learn the data,
not the task), is too short or too long, or (for instruction-only optimizers) repeats an
instruction the run already has. Each rejection has a short reason code, counted per operator in
the run summary.

A meta-prompt whose every answer was rejected is remembered: the next time an optimizer would
send the identical meta-prompt, it is asked with fresh sample indices (the cache would return
the same rejected answers otherwise), and after ``max_rounds`` failed rounds it is not asked
again. The memory is rebuilt on resume by replay, like every other decision.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

__all__ = [
    "REASONS",
    "ProposalGuard",
    "ProposalMemory",
    "ProposalRules",
    "ProposalStats",
    "check_proposal",
    "normalize",
]

#: Reason code -> what it means (journal and summary use the codes).
REASONS = {
    "failed": "the meta request failed",
    "untagged": "no non-empty <prompt> answer",
    "truncated": "cut off at max_tokens before the closing tag",
    "echo": "an echo of the meta-prompt",
    "parent_copy": "a copy of a parent instruction",
    "leaked_example": "contains a dev or test example, or a long verbatim run of one",
    "too_short": "fewer words than the minimum",
    "too_long": "more words than the maximum",
    "duplicate": "an instruction the run already has",
    "skipped": "not asked: this meta-prompt's answers were rejected before",
}


def normalize(text: str) -> str:
    return " ".join(text.casefold().split())


def _spans(norm: str, n: int) -> set[str]:
    """Every run of ``n`` consecutive words of a normalized text."""
    words = norm.split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class ProposalRules:
    """Checks beyond tags and echoes. ``examples`` and ``known`` hold normalized texts."""

    min_words: int = 1
    max_words: int = 400
    #: Dataset inputs that must not appear in an instruction (only those of at least
    #: ``min_example_chars`` characters: short inputs such as "yes" occur in any text).
    examples: tuple[str, ...] = ()
    min_example_chars: int = 24
    #: A run of this many consecutive words of an example is a leak too: Qwen2.5-Coder-0.5B, shown
    #: AG News articles, proposed an article's headline and first sentence as the instruction.
    leak_words: int = 10
    #: Every ``leak_words``-word run of the examples (normalized, space-joined).
    example_spans: frozenset[str] = field(default=frozenset(), repr=False)
    #: Instructions the run already has; set by instruction-only optimizers, where a repeat is a
    #: wasted proposal (CAPO's children also differ in their examples).
    known: frozenset[str] = frozenset()

    @classmethod
    def for_data(cls, inputs: Iterable[str], **changes: Any) -> "ProposalRules":
        """A run's rules: ``inputs`` (every dev and test input) must not leak into instructions,
        and an instruction has at least three words (fewer is never a real instruction)."""
        changes.setdefault("min_words", 3)
        texts = {normalize(t) for t in inputs}
        limit = changes.get("min_example_chars", cls.min_example_chars)
        n = changes.pop("leak_words", cls.leak_words)
        return cls(
            examples=tuple(sorted(t for t in texts if len(t) >= limit)),
            leak_words=n,
            example_spans=frozenset(span for t in texts for span in _spans(t, n)),
            **changes,
        )

    def with_known(self, instructions: Iterable[str]) -> "ProposalRules":
        return replace(self, known=frozenset(normalize(i) for i in instructions))


def check_proposal(text: str, parents: Iterable[str], rules: ProposalRules) -> str | None:
    """The reason code ``text`` is not usable, or None when it is."""
    norm = normalize(text)
    words = len(norm.split())
    if words < rules.min_words:
        return "too_short"
    if words > rules.max_words:
        return "too_long"
    if any(norm == normalize(parent) for parent in parents):
        return "parent_copy"
    if norm in rules.known:
        return "duplicate"
    if any(example in norm for example in rules.examples):
        return "leaked_example"
    if rules.example_spans and not rules.example_spans.isdisjoint(_spans(norm, rules.leak_words)):
        return "leaked_example"
    return None


def _key(meta_prompt: str) -> str:
    return hashlib.sha256(meta_prompt.encode("utf-8")).hexdigest()


@dataclass
class ProposalMemory:
    """Meta-prompts whose every answer was rejected, and how many rounds each has failed."""

    max_rounds: int = 2
    #: Sample-index distance between rounds: far beyond any optimizer's own sample spacing.
    stride: int = 10_000
    _failures: dict[str, int] = field(default_factory=dict)

    def failures(self, meta_prompt: str) -> int:
        return self._failures.get(_key(meta_prompt), 0)

    def exhausted(self, meta_prompt: str) -> bool:
        return self.failures(meta_prompt) >= self.max_rounds

    def sample_offset(self, meta_prompt: str) -> int:
        return self.stride * self.failures(meta_prompt)

    def record(self, meta_prompt: str, ok: bool) -> None:
        if not ok:
            key = _key(meta_prompt)
            self._failures[key] = self._failures.get(key, 0) + 1

    def __len__(self) -> int:
        return len(self._failures)


@dataclass
class ProposalStats:
    """Per operator: proposals asked, valid, rejected attempts by reason, new prompts evaluated."""

    asked: Counter[str] = field(default_factory=Counter)
    valid: Counter[str] = field(default_factory=Counter)
    rejected: dict[str, Counter[str]] = field(default_factory=dict)
    duplicates: Counter[str] = field(default_factory=Counter)
    evaluated: Counter[str] = field(default_factory=Counter)

    def count(self, operator: str, ok: bool, reasons: Iterable[str]) -> None:
        self.asked[operator] += 1
        self.valid[operator] += int(ok)
        self.rejected.setdefault(operator, Counter()).update(reasons)

    def count_registered(self, operator: str, new: int, duplicates: int) -> None:
        self.evaluated[operator] += new
        self.duplicates[operator] += duplicates

    def to_dict(self) -> dict[str, Any]:
        operators = sorted(set(self.asked) | set(self.evaluated))
        per = {
            op: {
                "asked": self.asked[op],
                "valid": self.valid[op],
                "rejected": dict(sorted(self.rejected.get(op, Counter()).items())),
                "duplicates": self.duplicates[op],
                "new_prompts_evaluated": self.evaluated[op],
            }
            for op in operators
        }
        return {
            "per_operator": per,
            "asked": sum(self.asked.values()),
            "valid": sum(self.valid.values()),
            "new_prompts_evaluated": sum(v for op, v in self.evaluated.items() if op != "init"),
        }


@dataclass
class ProposalGuard:
    """What an operator hands to :func:`~promptopt.operators.meta_generate`: rules and memory."""

    rules: ProposalRules = field(default_factory=ProposalRules)
    memory: ProposalMemory = field(default_factory=ProposalMemory)

    def knowing(self, instructions: Iterable[str]) -> "ProposalGuard":
        """The same memory, with ``instructions`` counted as known (a repeat is a duplicate)."""
        return ProposalGuard(self.rules.with_known(instructions), self.memory)
