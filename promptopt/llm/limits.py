"""Per-endpoint request limits: concurrency, requests/minute, tokens/minute, 429 cool-down.

One :class:`EndpointLimiter` guards one endpoint; clients for several roles on the same endpoint
share it (``LLMClient.with_role``), so the endpoint sees the sum of their traffic within limits.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator


@dataclass(frozen=True)
class Limits:
    """How hard one endpoint may be driven. ``None`` means unlimited."""

    max_concurrency: int = 64
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    #: Seconds of traffic a bucket may release at once (bucket size = rate / 60 * burst_s).
    burst_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.burst_s <= 0:
            raise ValueError(f"burst_s must be positive, got {self.burst_s}")


class TokenBucket:
    """A token bucket refilled continuously at ``rate_per_minute``.

    Waiters are served in arrival order (one lock), so a large request cannot be starved by a
    stream of small ones. A request larger than the bucket is clamped to the bucket size.
    """

    def __init__(self, rate_per_minute: float, burst_s: float = 1.0) -> None:
        self.rate_per_s = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate_per_s * burst_s)
        self._level = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    async def take(self, amount: float = 1.0) -> None:
        amount = min(float(amount), self.capacity)
        async with self._lock:
            self._refill()
            while self._level < amount:
                await asyncio.sleep((amount - self._level) / self.rate_per_s)
                self._refill()
            self._level -= amount

    def give_back(self, amount: float) -> None:
        """Return tokens that were reserved but not used (estimate above the real count)."""
        if amount > 0:
            self._refill()
            self._level = min(self.capacity, self._level + amount)


class EndpointLimiter:
    """Admission control for one endpoint."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(limits.max_concurrency)
        self._rpm = (
            TokenBucket(limits.requests_per_minute, limits.burst_s)
            if limits.requests_per_minute
            else None
        )
        self._tpm = (
            TokenBucket(limits.tokens_per_minute, limits.burst_s) if limits.tokens_per_minute else None
        )
        self._cooldown_until = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    def cool_down(self, seconds: float) -> None:
        """Hold back every new request to this endpoint for ``seconds`` (a 429's Retry-After)."""
        self._cooldown_until = max(self._cooldown_until, time.monotonic() + seconds)

    async def _wait_cooldown(self) -> None:
        while (delay := self._cooldown_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def slot(self, estimated_tokens: int) -> AsyncIterator["_Reservation"]:
        """Wait for admission; the body sends one request. Report real tokens on the reservation."""
        await self._wait_cooldown()
        if self._rpm is not None:
            await self._rpm.take(1)
        if self._tpm is not None:
            await self._tpm.take(estimated_tokens)
        async with self._slots:
            await self._wait_cooldown()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            reservation = _Reservation(estimated_tokens)
            try:
                yield reservation
            finally:
                self.in_flight -= 1
                if self._tpm is not None and reservation.actual_tokens is not None:
                    self._tpm.give_back(estimated_tokens - reservation.actual_tokens)


class _Reservation:
    __slots__ = ("estimated_tokens", "actual_tokens")

    def __init__(self, estimated_tokens: int) -> None:
        self.estimated_tokens = estimated_tokens
        self.actual_tokens: int | None = None
