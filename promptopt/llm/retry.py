"""Retry policy: which failures are retried, how long to wait, when to give up.

Retries use tenacity with full-jitter exponential backoff; a server's Retry-After is a floor on
the wait. Giving up is bounded both by attempts and by a per-request deadline, so an endpoint
that always fails produces error responses in bounded time instead of hanging a run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Mapping


@dataclass(frozen=True)
class RetryPolicy:
    """Retry and timeout settings of one client."""

    max_attempts: int = 6
    #: Seconds a single attempt may take before it counts as a timeout.
    timeout_s: float = 120.0
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    #: Upper bound on one request's total time, all attempts and waits included.
    deadline_s: float | None = 600.0
    #: Longest Retry-After we are willing to honour; longer ones end the request with an error.
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {self.deadline_s}")

    def backoff(self, attempt_number: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt_number + 1``."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt_number - 1))
        jittered = rng.uniform(0.0, ceiling)
        if retry_after is not None:
            # Honour the server, plus a little jitter so waiters do not return in lock-step.
            return retry_after + min(jittered, 0.1 * retry_after + 0.05)
        return jittered


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or HTTP date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
