"""Usage ledger: what each role (downstream, meta, judge, ...) has spent.

Budgets and progress displays read it; cache hits are counted but never charged.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace

from promptopt.llm.records import ChatResponse

ROLES: tuple[str, ...] = ("downstream", "meta", "judge")


@dataclass(frozen=True)
class RoleUsage:
    """Spend of one role. ``usd`` is None while no priced model was used."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_token_responses: int = 0
    cache_hits: int = 0
    errors: int = 0
    latency_s: float = 0.0
    usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "total_tokens": self.total_tokens}


class UsageLedger:
    """Accumulates :class:`RoleUsage` per role; safe to share between clients and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, RoleUsage] = {}

    def record(self, role: str, response: ChatResponse, usd: float | None = None) -> None:
        """Charge one response that reached the backend (hits go to :meth:`record_hit`)."""
        with self._lock:
            row = self._roles.get(role, RoleUsage())
            self._roles[role] = replace(
                row,
                requests=row.requests + 1,
                prompt_tokens=row.prompt_tokens + response.usage.prompt_tokens,
                completion_tokens=row.completion_tokens + response.usage.completion_tokens,
                estimated_token_responses=row.estimated_token_responses + response.usage.estimated,
                errors=row.errors + (not response.ok),
                latency_s=row.latency_s + response.latency_s,
                usd=row.usd if usd is None else (row.usd or 0.0) + usd,
            )

    def record_hit(self, role: str, count: int = 1) -> None:
        with self._lock:
            row = self._roles.get(role, RoleUsage())
            self._roles[role] = replace(row, cache_hits=row.cache_hits + count)

    def role(self, role: str) -> RoleUsage:
        with self._lock:
            return self._roles.get(role, RoleUsage())

    def snapshot(self) -> dict[str, RoleUsage]:
        with self._lock:
            return dict(self._roles)

    def total(self) -> RoleUsage:
        """All roles added up."""
        rows = self.snapshot().values()
        usds = [r.usd for r in rows if r.usd is not None]
        return RoleUsage(
            requests=sum(r.requests for r in rows),
            prompt_tokens=sum(r.prompt_tokens for r in rows),
            completion_tokens=sum(r.completion_tokens for r in rows),
            estimated_token_responses=sum(r.estimated_token_responses for r in rows),
            cache_hits=sum(r.cache_hits for r in rows),
            errors=sum(r.errors for r in rows),
            latency_s=sum(r.latency_s for r in rows),
            usd=sum(usds) if usds else None,
        )
