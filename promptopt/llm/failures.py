"""Failed requests as a report, and total failure as an error rather than a score.

An evaluation whose every request failed (a refused connection, a 401, a 413 for a huge prompt)
used to exit 0 with accuracy 0.000: a user reads that as "the prompt is bad". Here a batch with
no answer at all raises :class:`RequestsFailed` naming the endpoint, the cause by kind and one
message of each; a partly failed batch is described with the same counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from promptopt.errors import PromptoptError
from promptopt.llm.records import ChatResponse

#: Above this share of failed requests a command warns with the counts by kind.
WARN_SHARE = 0.1


class RequestsFailed(PromptoptError):
    """Every request of a batch failed: nothing was measured."""


@dataclass(frozen=True)
class FailureSummary:
    """How many of ``total`` requests failed, by error kind, with the first message of each."""

    total: int
    by_kind: Mapping[str, int] = field(default_factory=dict)
    example: Mapping[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.by_kind.values())

    @property
    def share(self) -> float:
        return self.failed / self.total if self.total else 0.0

    def describe(self, endpoint: str | None = None) -> str:
        where = f" to {endpoint}" if endpoint else ""
        kinds = "; ".join(f"{kind} ×{n}: {self.example[kind]}" for kind, n in sorted(self.by_kind.items(), key=lambda kv: -kv[1]))
        return f"{self.failed} of {self.total} request(s){where} failed ({kinds})"


def summarize_failures(responses: Sequence[ChatResponse]) -> FailureSummary:
    kinds: Counter[str] = Counter()
    example: dict[str, str] = {}
    for response in responses:
        if response.error is not None:
            kind = response.error_kind or "error"
            kinds[kind] += 1
            example.setdefault(kind, response.error)
    return FailureSummary(len(responses), dict(kinds), example)


def refuse_total_failure(responses: Sequence[ChatResponse], endpoint: str | None, what: str) -> FailureSummary:
    """The batch's failure summary; raises :class:`RequestsFailed` when no request succeeded."""
    summary = summarize_failures(responses)
    if summary.total and summary.failed == summary.total:
        raise RequestsFailed(f"{what}: {summary.describe(endpoint)}")
    return summary
