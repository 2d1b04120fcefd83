"""Costs by planning module: what each part of the loop spent and said.

Modules: ``draft``, ``critique``, ``revise``, ``adapt`` (the discussion), ``act`` (choosing an
action) and ``message`` (writing a message to teammates). Each LLM call is sent under the ledger
role ``plan.<module>``, and an episode's spend per module is read from its own ledger under those
same roles (episodes share one client, so the client's ledger mixes them). That ledger charges a
call when it is asked for and the tokens its answer reports, cached or not, so a replayed episode
shows the same costs; ``cache_hits`` says how many answers the cache gave. What a ledger has no
field for (texts shared, discussion rounds, world ticks, fallbacks, LLM-free decisions) is
counted here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from pydantic import Field, Strict

from promptopt import records
from promptopt.llm.ledger import RoleUsage, UsageLedger

__all__ = ["MODULES", "CostBook", "EpisodeCosts", "ModuleCosts", "ModuleTalk", "ledger_role"]

MODULES = ("draft", "critique", "revise", "adapt", "act", "message")


def ledger_role(module: str) -> str:
    return f"plan.{module}"


@dataclass
class ModuleTalk:
    """What one module said and cost the world (mutable: an episode adds to it as it goes)."""

    messages: int = 0
    characters: int = 0
    rounds: int = 0
    env_ticks: int = 0


#: A count as episode files hold it: strict, so a summary never adds up strings or booleans.
Count = Annotated[int, Strict(), Field(ge=0)]


@dataclass(frozen=True)
class ModuleCosts(records.Record):
    """One module's persisted costs (the episode record's shape since version 1)."""

    calls: Count
    errors: Count
    prompt_tokens: Count
    completion_tokens: Count
    messages: Count
    characters: Count
    rounds: Count
    env_ticks: Count
    tokens: Count

    @classmethod
    def of(cls, spend: RoleUsage, talk: ModuleTalk) -> ModuleCosts:
        return cls(calls=spend.requests, errors=spend.errors, prompt_tokens=spend.prompt_tokens,
                   completion_tokens=spend.completion_tokens, **asdict(talk), tokens=spend.total_tokens)


@dataclass(frozen=True)
class EpisodeCosts(records.Record):
    """An episode's ``costs``: by module, their total, and the fallbacks and decisions by kind."""

    modules: dict[str, ModuleCosts]
    total: ModuleCosts
    fallbacks: dict[str, Count]
    decisions: dict[str, Count]


class CostBook:
    """One episode's costs by module: spend from ``ledger`` (the episode's), the rest counted here."""

    def __init__(self, ledger: UsageLedger | None = None) -> None:
        self.ledger = ledger if ledger is not None else UsageLedger()
        self.modules: dict[str, ModuleTalk] = {m: ModuleTalk() for m in MODULES}
        self.fallbacks: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()

    def spend(self, module: str) -> RoleUsage:
        return self.ledger.role(ledger_role(module))

    @property
    def cache_hits(self) -> dict[str, int]:
        """Answers the cache gave, per module: differs between a first run and a replay, so it is
        reported with the spend, not with the episode's (replayable) costs."""
        return {m: self.spend(m).cache_hits for m in self.modules}

    def communicate(self, module: str, text: str) -> None:
        """A text one agent shares with the others (a plan, a critique, a message)."""
        self.modules[module].messages += 1
        self.modules[module].characters += len(text)

    def fallback(self, what: str) -> None:
        """Count one parse fallback, e.g. ``act.letter`` or ``draft.repaired``."""
        self.fallbacks[what] += 1

    def costs(self) -> EpisodeCosts:
        talk = ModuleTalk(**{k: sum(getattr(t, k) for t in self.modules.values()) for k in asdict(ModuleTalk())})
        return EpisodeCosts(
            modules={m: ModuleCosts.of(self.spend(m), t) for m, t in self.modules.items()},
            total=ModuleCosts.of(RoleUsage.sum(self.spend(m) for m in self.modules), talk),
            fallbacks=dict(sorted(self.fallbacks.items())),
            decisions=dict(sorted(self.decisions.items())),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.costs().to_dict()
