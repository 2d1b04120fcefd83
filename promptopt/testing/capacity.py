"""The vLLM-like capacity model: a fixed number of sequences in service, the rest queued."""

from __future__ import annotations

import asyncio
import math
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Callable


@dataclass(frozen=True)
class ServerConfig:
    """Shape of the fake server.

    At most ``max_seqs`` requests are served at once; each takes
    ``latency_s + prompt_tokens / prefill_tps + completion_tokens / decode_tps`` seconds
    (a throughput term is skipped when its rate is None). With ``api_key``, a request without
    ``Authorization: Bearer <api_key>`` gets a 401 that echoes the header it sent, as some
    servers and proxies do (for tests that no secret leaks from an error).
    """

    model: str = "test-model"
    api_key: str | None = None
    max_seqs: int = 64
    latency_s: float = 0.0
    prefill_tps: float | None = None
    decode_tps: float | None = None
    #: Answer ``POST /tokenize`` as llama.cpp's server does (False: 404, as hosted APIs).
    tokenize: bool = True

    def __post_init__(self) -> None:
        if self.max_seqs < 1:
            raise ValueError("max_seqs must be >= 1")
        if self.latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        for name in ("prefill_tps", "decode_tps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 (or None)")

    def service_time(self, prompt_tokens: int = 0, completion_tokens: int = 0) -> float:
        """Seconds one request holds its sequence slot."""
        seconds = self.latency_s
        if self.prefill_tps is not None:
            seconds += prompt_tokens / self.prefill_tps
        if self.decode_tps is not None:
            seconds += completion_tokens / self.decode_tps
        return seconds

    def theoretical_capacity(self, prompt_tokens: int = 0, completion_tokens: int = 0) -> float:
        """Saturated throughput in requests/s: ``max_seqs / service_time`` (inf if instant)."""
        seconds = self.service_time(prompt_tokens, completion_tokens)
        return math.inf if seconds <= 0 else self.max_seqs / seconds


class CapacityGate:
    """Admits at most ``max_seqs`` holders at once; reports in-service and queue depth.

    Create it on the event loop that will use it.
    """

    def __init__(self, max_seqs: int, observe: Callable[[int, int], None]) -> None:
        self._sem = asyncio.Semaphore(max_seqs)
        self._observe = observe
        self.in_service = 0
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one sequence slot for the duration of the block (queueing if none is free)."""
        if self._sem.locked():
            self.waiting += 1
            self._observe(self.in_service, self.waiting)
            try:
                await self._sem.acquire()
            finally:
                self.waiting -= 1
        else:
            await self._sem.acquire()
        self.in_service += 1
        self._observe(self.in_service, self.waiting)
        try:
            yield
        finally:
            self.in_service -= 1
            self._sem.release()
