"""Usage ledger: what each role (downstream, meta, judge, ...) has spent.

Budgets and progress displays read it; cache hits are counted but never charged.

``requests`` counts HTTP requests that reached the server, retries included: a provider bills
(and rate-limits) every one of them, and a self-hosted server's own counters count every one, so
the ledger agrees with what the server saw. A request whose every attempt was refused at connect
(nothing sent) costs nothing and shows only in ``errors``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Callable, Iterable, Mapping

from promptopt import records
from promptopt.llm.records import ChatResponse, Count, Exact, Usage, plain

ROLES: tuple[str, ...] = ("downstream", "meta", "judge")


@dataclass(frozen=True)
class RoleUsage(records.Record):
    """Spend of one role. ``usd`` is None while no priced model was used.

    ``requests``: HTTP requests that reached the server, retries included. ``retries``: those of
    them beyond the first of their logical request (``requests - retries`` requests were asked
    for). ``retry_tokens``: tokens the server reported for failed attempts, already included in
    ``prompt_tokens``/``completion_tokens`` (a failed attempt usually reports none: nothing is
    invented for it). ``asked``: logical requests that went to the backend, each counted once
    however many attempts it took (or none, when every connect was refused). ``errors``: those
    of them that still failed after their retries.

    Read back (journals and summaries of any age), a field written before it existed takes its
    default and a key this version does not know (``total_tokens``, a later field) is ignored.
    """

    requests: Count = 0
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    estimated_token_responses: Count = 0
    cache_hits: Count = 0
    errors: Count = 0
    latency_s: Exact = 0.0
    usd: Exact | None = None
    retries: Count = 0
    retry_tokens: Count = 0
    asked: Count = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, object]:
        """The fields (values as given) and the derived ``total_tokens``, for readers of the file."""
        return {**plain(self), "total_tokens": self.total_tokens}

    def __add__(self, other: "RoleUsage") -> "RoleUsage":
        """Field-wise sum (``usd`` stays None only when both are unpriced)."""
        if not isinstance(other, RoleUsage):
            return NotImplemented
        usd = None if self.usd is None and other.usd is None else (self.usd or 0.0) + (other.usd or 0.0)
        summed = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "usd"
        }
        return RoleUsage(**summed, usd=usd)

    @classmethod
    def sum(cls, rows: Iterable["RoleUsage"]) -> "RoleUsage":
        """All ``rows`` added up (none: zero usage)."""
        total = cls()
        for row in rows:
            total = total + row
        return total

    def share(self, count: int) -> "RoleUsage":
        """One of ``count`` equal parts of the requests and tokens, rounded up: an estimate of
        one more unit's cost that does not undershoot."""
        return RoleUsage(requests=-(-self.requests // count), prompt_tokens=-(-self.prompt_tokens // count),
                         completion_tokens=-(-self.completion_tokens // count))

    @classmethod
    def charged(
        cls,
        response: ChatResponse,
        usd: float | None = None,
        *,
        sent: int | None = None,
        failed_usage: Usage | None = None,
    ) -> "RoleUsage":
        """What one logical request that went to the backend costs (see :meth:`UsageLedger.record`)."""
        sent = response.attempts if sent is None else sent
        failed = failed_usage or Usage()
        tokens = response.usage + failed
        return cls(
            requests=sent,
            asked=1,
            retries=max(0, sent - 1),
            prompt_tokens=tokens.prompt_tokens,
            completion_tokens=tokens.completion_tokens,
            retry_tokens=failed.total_tokens,
            estimated_token_responses=int(response.usage.estimated),
            errors=int(not response.ok),
            latency_s=response.latency_s,
            usd=usd,
        )


def add_roles(*usages: Mapping[str, RoleUsage]) -> dict[str, RoleUsage]:
    """Per-role sums of several per-role usages (a role missing from one counts as zero there)."""
    roles = dict.fromkeys(role for usage in usages for role in usage)
    return {role: RoleUsage.sum(usage.get(role, RoleUsage()) for usage in usages) for role in roles}


class UsageLedger:
    """Accumulates :class:`RoleUsage` per role; safe to share between clients and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, RoleUsage] = {}
        self._listeners: list[Callable[[str, RoleUsage], None]] = []

    def listen(self, listener: Callable[[str, RoleUsage], None]) -> None:
        """Call ``listener(role, usage)`` after every charge (a progress display counting
        requests, a run's paid log); it must be quick and must not charge this ledger."""
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[str, RoleUsage], None]) -> None:
        """Stop calling ``listener`` (a run that ended, on a ledger that outlives it)."""
        self._listeners = [fn for fn in self._listeners if fn is not listener]

    def record(
        self,
        role: str,
        response: ChatResponse,
        usd: float | None = None,
        *,
        sent: int | None = None,
        failed_usage: Usage | None = None,
    ) -> None:
        """Charge one logical request that went to the backend (hits go to :meth:`record_hit`).

        ``sent``: how many of its attempts reached the server (default ``response.attempts``:
        every attempt did). ``failed_usage``: tokens the server reported for the attempts that
        failed; they are charged like any other (``usd`` must include their price).
        """
        self.add(role, RoleUsage.charged(response, usd, sent=sent, failed_usage=failed_usage))

    def record_hit(self, role: str, count: int = 1) -> None:
        self.add(role, RoleUsage(cache_hits=count))

    def add(self, role: str, usage: RoleUsage) -> None:
        """Add ``usage`` to ``role``'s row: the one way a row grows."""
        with self._lock:
            self._roles[role] = self._roles.get(role, RoleUsage()) + usage
        for listener in self._listeners:
            listener(role, usage)

    def role(self, role: str) -> RoleUsage:
        with self._lock:
            return self._roles.get(role, RoleUsage())

    def snapshot(self) -> dict[str, RoleUsage]:
        with self._lock:
            return dict(self._roles)

    def total(self) -> RoleUsage:
        """All roles added up."""
        return RoleUsage.sum(self.snapshot().values())
