"""Counters a test asserts on. Updated on the server loop, read from any thread."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerStats:
    """A snapshot of the server's counters (a copy: later traffic does not change it).

    Requests to ``/stats`` are not counted. ``completions_ok`` counts 200 responses carrying a
    valid completion (including "empty" and "length" faults, not "no_choices", whose object has
    no choice); ``arrivals_per_key`` holds the
    ``time.monotonic()`` arrival times of each valid chat request key. The Authorization header
    is only counted (``authorization_seen``), never stored.
    """

    requests_total: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)
    completions_ok: int = 0
    successes_per_key: dict[str, int] = field(default_factory=dict)
    arrivals_per_key: dict[str, tuple[float, ...]] = field(default_factory=dict)
    max_in_service: int = 0
    max_queue_depth: int = 0
    models_requests: int = 0
    tokenize_requests: int = 0
    authorization_seen: int = 0
    connections_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (status codes become strings, tuples lists). Written by hand, not
        through :mod:`promptopt.records`: the test server's process must not import pydantic
        (it starts in ~0.05 s; ``test_server_side_import_is_light``)."""
        data = asdict(self)
        data["by_status"] = {str(k): v for k, v in self.by_status.items()}
        data["arrivals_per_key"] = {k: list(v) for k, v in self.arrivals_per_key.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServerStats":
        """Inverse of :meth:`to_dict` (for ``GET /stats`` of a subprocess server)."""
        values = dict(data)
        values["by_status"] = {int(k): v for k, v in data.get("by_status", {}).items()}
        values["arrivals_per_key"] = {
            k: tuple(v) for k, v in data.get("arrivals_per_key", {}).items()
        }
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


class StatsRecorder:
    """Mutable, lock-protected counters behind :class:`ServerStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests_total = 0
            self._by_status: dict[int, int] = {}
            self._faults: dict[str, int] = {}
            self._completions_ok = 0
            self._successes: dict[str, int] = {}
            self._arrivals: dict[str, list[float]] = {}
            self._max_in_service = 0
            self._max_queue = 0
            self._models = 0
            self._tokenize = 0
            self._authorization = 0
            self._connections = 0

    def request(self, authorized: bool) -> None:
        with self._lock:
            self._requests_total += 1
            self._authorization += authorized

    def status(self, code: int) -> None:
        with self._lock:
            self._by_status[code] = self._by_status.get(code, 0) + 1

    def connection(self) -> None:
        with self._lock:
            self._connections += 1

    def models_request(self) -> None:
        with self._lock:
            self._models += 1

    def tokenize_request(self) -> None:
        with self._lock:
            self._tokenize += 1

    def arrival(self, key: str, at: float) -> None:
        with self._lock:
            self._arrivals.setdefault(key, []).append(at)

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def completion_ok(self, key: str) -> None:
        with self._lock:
            self._completions_ok += 1
            self._successes[key] = self._successes.get(key, 0) + 1

    def observe_load(self, in_service: int, waiting: int) -> None:
        with self._lock:
            self._max_in_service = max(self._max_in_service, in_service)
            self._max_queue = max(self._max_queue, waiting)

    def snapshot(self) -> ServerStats:
        with self._lock:
            return ServerStats(
                requests_total=self._requests_total,
                by_status=dict(self._by_status),
                faults_injected=dict(self._faults),
                completions_ok=self._completions_ok,
                successes_per_key=dict(self._successes),
                arrivals_per_key={k: tuple(v) for k, v in self._arrivals.items()},
                max_in_service=self._max_in_service,
                max_queue_depth=self._max_queue,
                models_requests=self._models,
                tokenize_requests=self._tokenize,
                authorization_seen=self._authorization,
                connections_total=self._connections,
            )
