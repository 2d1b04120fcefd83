"""Cost accounting by planning module: what each part of the loop spent.

Modules: ``draft``, ``critique``, ``revise``, ``adapt`` (the discussion), ``act`` (choosing an
action) and ``message`` (writing a message to teammates). Each LLM call is charged to exactly one
module and also sent under the ledger role ``plan.<module>``, so the per-module numbers add up to
the client's ledger. Tokens are those each response reports, cached or not, so a replayed episode
shows the same costs; ``cache_hits`` says how many calls the cache answered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from promptopt.llm.records import ChatResponse

__all__ = ["MODULES", "CostBook", "ModuleCost", "ledger_role"]

MODULES = ("draft", "critique", "revise", "adapt", "act", "message")


def ledger_role(module: str) -> str:
    return f"plan.{module}"


@dataclass
class ModuleCost:
    """Counters of one module (mutable: an episode adds to it as it goes)."""

    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    messages: int = 0
    characters: int = 0
    rounds: int = 0
    env_ticks: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: ModuleCost) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


@dataclass
class CostBook:
    """Per-module costs plus counters of parse fallbacks and LLM-free decisions."""

    modules: dict[str, ModuleCost] = field(default_factory=lambda: {m: ModuleCost() for m in MODULES})
    fallbacks: Counter = field(default_factory=Counter)
    decisions: Counter = field(default_factory=Counter)
    #: Calls the cache answered, per module: differs between a first run and a replay, so it is
    #: reported with the spend, not with the episode's (replayable) costs.
    cache_hits: Counter = field(default_factory=Counter)

    def charge(self, module: str, response: ChatResponse) -> None:
        row = self.modules[module]
        row.calls += 1
        self.cache_hits[module] += response.cached
        row.errors += not response.ok
        row.prompt_tokens += response.usage.prompt_tokens
        row.completion_tokens += response.usage.completion_tokens

    def communicate(self, module: str, text: str) -> None:
        """A text one agent shares with the others (a plan, a critique, a message)."""
        self.modules[module].messages += 1
        self.modules[module].characters += len(text)

    def fallback(self, what: str) -> None:
        """Count one parse fallback, e.g. ``act.letter`` or ``draft.repaired``."""
        self.fallbacks[what] += 1

    def total(self) -> ModuleCost:
        out = ModuleCost()
        for row in self.modules.values():
            out.add(row)
        return out

    def merge(self, other: CostBook) -> None:
        for name, row in other.modules.items():
            self.modules.setdefault(name, ModuleCost()).add(row)
        self.fallbacks.update(other.fallbacks)
        self.decisions.update(other.decisions)
        self.cache_hits.update(other.cache_hits)

    def to_dict(self) -> dict[str, Any]:
        total = self.total()
        return {
            "modules": {m: {**asdict(r), "tokens": r.tokens} for m, r in self.modules.items()},
            "total": {**asdict(total), "tokens": total.tokens},
            "fallbacks": dict(sorted(self.fallbacks.items())),
            "decisions": dict(sorted(self.decisions.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostBook:
        book = cls()
        for name, row in data.get("modules", {}).items():
            book.modules[name] = ModuleCost(**{k: v for k, v in row.items() if k != "tokens"})
        book.fallbacks.update(data.get("fallbacks", {}))
        book.decisions.update(data.get("decisions", {}))
        return book
