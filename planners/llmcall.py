"""One episode's door to the model: every planning call goes through here.

It sends through :class:`~promptopt.llm.client.LLMClient` (cache, limits, retries, ledger) under
the module's ledger role, charges the same role in the episode's ledger (the :class:`CostBook`'s),
appends the exchange to the episode transcript and enforces the episode's LLM-call budget, a
:class:`~promptopt.budget.CallLimit` on that ledger. A call is charged and its transcript entry
taken before the first ``await``, so concurrent calls see each other against the limit, land in a
fixed order, and a replayed episode writes the same transcript.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promptopt.budget import Budget, BudgetState, CallLimit
from promptopt.llm.client import LLMClient
from promptopt.llm.ledger import RoleUsage
from promptopt.llm.records import ChatRequest, ChatResponse, Message

from .costs import CostBook, ledger_role

__all__ = ["Ask", "ModuleLLM"]

#: One call asked for, as the episode's ledger charges it (any role: the limit counts them all).
_ONE_CALL = {"plan": RoleUsage(requests=1)}


@dataclass(frozen=True)
class Ask:
    """One request of a module on behalf of an agent."""

    module: str
    agent: str
    messages: tuple[Message, ...]
    max_tokens: int


class ModuleLLM:
    """Budgeted, accounted, transcribed model calls for one episode."""

    def __init__(self, client: LLMClient, costs: CostBook, *, seed: int, temperature: float = 0.0,
                 max_calls: int | None = None, keep_prompts: bool = True) -> None:
        self.client = client
        self.costs = costs
        self.seed = seed
        self.temperature = temperature
        self.budget = Budget([] if max_calls is None else [CallLimit(max_calls)])
        self.keep_prompts = keep_prompts
        self.transcript: list[dict[str, Any]] = []
        self.tick = 0

    def affordable(self, n: int = 1) -> bool:
        """True when the episode's call budget has room for ``n`` more calls."""
        room = self.budget.room(BudgetState(usage=self.costs.ledger.snapshot()), _ONE_CALL)
        return room is None or room.units >= n

    async def ask(self, item: Ask) -> str | None:
        """The reply text, or None when the budget is spent or the request failed (the caller falls
        back and counts it)."""
        return (await self.ask_many([item]))[0]

    async def ask_many(self, items: Sequence[Ask]) -> list[str | None]:
        """Send concurrently (same module and role batch where possible); replies in order."""
        slots: list[tuple[Ask, dict[str, Any]] | None] = []
        for item in items:
            if not self.affordable():
                self.costs.fallback(f"{item.module}.budget")
                slots.append(None)
                continue
            self.costs.ledger.add(ledger_role(item.module), RoleUsage(requests=1))
            entry: dict[str, Any] = {"tick": self.tick, "module": item.module, "agent": item.agent}
            if self.keep_prompts:
                entry["prompt"] = item.messages[-1].content
            self.transcript.append(entry)
            slots.append((item, entry))
        live = [s for s in slots if s is not None]
        replies = await asyncio.gather(*(self._send(item, entry) for item, entry in live))
        out: list[str | None] = []
        it = iter(replies)
        for s in slots:
            out.append(None if s is None else next(it))
        return out

    async def _send(self, item: Ask, entry: dict[str, Any]) -> str | None:
        request = ChatRequest(messages=item.messages, temperature=self.temperature, max_tokens=item.max_tokens,
                              seed=self.seed)
        response = await self.client.with_role(ledger_role(item.module)).complete_one(request)
        self.costs.ledger.add(ledger_role(item.module), _answered(response))
        entry["reply"] = response.text if response.ok else None
        entry["tokens"] = [response.usage.prompt_tokens, response.usage.completion_tokens]
        if not response.ok:
            entry["error"] = response.error_kind
            entry["error_detail"] = response.error
            self.costs.fallback(f"{item.module}.error")
            return None
        return response.text


def _answered(response: ChatResponse) -> RoleUsage:
    """What an answer adds to its (already charged) call: the tokens it reports whether the server,
    the cache or an identical request in flight gave it, its error, and whether it was cached."""
    return RoleUsage(prompt_tokens=response.usage.prompt_tokens, completion_tokens=response.usage.completion_tokens,
                     errors=int(not response.ok), cache_hits=int(response.cached))
