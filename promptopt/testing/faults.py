"""Faults on demand, decided deterministically.

A fault decision never depends on timing: it hashes (plan seed, request key, attempt number of
that key), so the same requests meet the same faults in every run however they interleave.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

#: Every fault kind, in the (fixed) order rates are laid out on the unit interval. New kinds go
#: at the end, so that a seeded plan's existing kinds keep hitting the same requests.
#:
#: "malformed": a 200 whose JSON stops half way; "empty": a valid completion with no text;
#: "length": a valid completion cut short; "empty_body": a 200 with no body at all (a proxy that
#: lost the answer); "no_choices": a 200 completion object whose ``choices`` is empty but whose
#: ``usage`` reports the tokens spent (a gateway that dropped the answer): the one failure that
#: says what it cost.
FAULT_KINDS: tuple[str, ...] = (
    "429", "500", "503", "hang", "reset", "malformed", "empty", "length", "empty_body", "no_choices"
)

#: Kinds answered before the capacity model (they never hold a sequence slot).
EARLY_KINDS = frozenset({"429", "500", "503", "hang", "reset", "malformed", "empty_body"})

#: Body fields that do not change what is asked, left out of the request key.
VOLATILE_FIELDS = frozenset(
    {"stream", "stream_options", "user", "metadata", "store", "service_tier", "request_id"}
)


def request_key(body: Mapping[str, Any]) -> str:
    """Identity of a chat request: sha256 hex of its canonical JSON without volatile fields."""
    kept = {k: v for k, v in body.items() if k not in VOLATILE_FIELDS}
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_kind(kind: object, what: str) -> str:
    kind = str(kind)
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r} in {what}; known: {', '.join(FAULT_KINDS)}")
    return kind


@dataclass(frozen=True)
class FaultPlan:
    """Which requests fail, and how. The default plan injects nothing.

    Precedence: ``schedule`` (by global arrival index) > cap ``max_failures_per_key`` > ``always``
    > ``rates``. Schedule entries are absolute; every injected fault, scheduled or not, counts
    towards a key's failures.
    """

    rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    max_failures_per_key: int | None = None
    always: str | None = None
    schedule: Sequence[str | None] = ()
    retry_after_s: float | None = 1.0
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        rates = {_check_kind(k, "rates"): float(v) for k, v in self.rates.items()}
        if any(not 0.0 <= v <= 1.0 for v in rates.values()):
            raise ValueError("fault rates must lie in [0, 1]")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates must sum to at most 1")
        object.__setattr__(self, "rates", MappingProxyType(rates))
        if self.always is not None:
            object.__setattr__(self, "always", _check_kind(self.always, "always"))
        schedule = tuple(None if k is None else _check_kind(k, "schedule") for k in self.schedule)
        object.__setattr__(self, "schedule", schedule)
        if self.max_failures_per_key is not None and self.max_failures_per_key < 0:
            raise ValueError("max_failures_per_key must be >= 0")
        if self.retry_after_s is not None and self.retry_after_s < 0:
            raise ValueError("retry_after_s must be >= 0")
        if self.hang_s < 0:
            raise ValueError("hang_s must be >= 0")


def decide_fault(plan: FaultPlan, key: str, attempt: int) -> str | None:
    """The rate-based fault for the ``attempt``-th (0-based) sighting of ``key``, or None.

    Pure: a uniform draw from sha256(seed, key, attempt), laid against the rates in
    :data:`FAULT_KINDS` order.
    """
    if not plan.rates:
        return None
    digest = hashlib.sha256(f"{plan.seed}:{key}:{attempt}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for kind in FAULT_KINDS:
        edge += plan.rates.get(kind, 0.0)
        if u < edge:
            return kind
    return None


class FaultInjector:
    """Applies a :class:`FaultPlan`, keeping its counters (arrival index, per-key attempts and
    failures). Thread-safe; :meth:`reset` (or a new injector) starts the plan afresh."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._arrivals = 0
            self._attempts: dict[str, int] = {}
            self._failures: dict[str, int] = {}

    def next(self, key: str) -> str | None:
        """Record one arrival of ``key`` and return the fault it gets (None: serve normally)."""
        plan = self.plan
        with self._lock:
            index = self._arrivals
            self._arrivals += 1
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
            failures = self._failures.get(key, 0)
            if index < len(plan.schedule):
                kind = plan.schedule[index]
            elif plan.max_failures_per_key is not None and failures >= plan.max_failures_per_key:
                kind = None
            elif plan.always is not None:
                kind = plan.always
            else:
                kind = decide_fault(plan, key, attempt)
            if kind is not None:
                self._failures[key] = failures + 1
            return kind
