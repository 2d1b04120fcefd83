"""Worker processes for the embedded model, and what happens when one dies.

Each worker holds its own llama.cpp context; a batch is spread over the workers one request at
a time (``parallel`` at a time when a worker decodes several together), so a slow request never
leaves another worker idle. When a worker dies, the request it
was serving and any not yet handed out come back as ``worker_died`` error responses (the client
retries those), a warning line says what happened, and the next batch starts a new worker, at
most ``max_restarts`` times over the pool's life. After that, or at once for an illegal
instruction (a new worker would run the same build and die the same way), the pool raises
:class:`LocalModelCrashError`: a user-facing error, so a run stops cleanly with its journal and
cache intact and can be resumed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any, Sequence

from promptopt.errors import PromptoptError
from promptopt.llm.backends.base import WORKER_DIED
from promptopt.llm.backends.llama_engine import ERROR_KIND, EngineSettings
from promptopt.llm.backends.local_process import WorkerDeath, WorkerDied, WorkerProcess
from promptopt.llm.records import ChatResponse

_log = logging.getLogger("promptopt.local")


class LocalModelCrashError(PromptoptError):
    """The embedded model's worker cannot be (re)started: the message says why and what to do."""


class WorkerPool:
    """``size`` worker processes running one model; thread-safe start, restart and shutdown."""

    def __init__(
        self,
        settings: EngineSettings,
        size: int,
        *,
        max_restarts: int = 3,
        ready_timeout_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.size = size
        self.max_restarts = max_restarts
        self.ready_timeout_s = ready_timeout_s
        self.restarts = 0
        #: llama.cpp's CPU feature line, known once a worker has started.
        self.system_info: str | None = None
        #: Whether the workers reuse prompt prefixes (``LlamaEngine.reuses_prefix``), known then too.
        self.reuses_prefix: bool | None = None
        #: Requests each worker decodes together (``LlamaEngine.parallel``: the setting, or what
        #: the worker found for ``parallel=None``), known then too.
        self.parallel: int | None = settings.parallel
        self._slots: list[WorkerProcess | None] = [None] * size
        self._last_death: WorkerDeath | None = None
        self._fatal: WorkerDeath | None = None
        self._closed = False
        self._lock = threading.RLock()

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers (for tests and diagnostics)."""
        return [w.pid for w in self._slots if w is not None and w.alive]

    def workers(self) -> list[WorkerProcess]:
        """The running workers, starting any missing one. Blocking: call it off the event loop."""
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalBackend is closed")
            for index, worker in enumerate(self._slots):
                if worker is None or not worker.alive:
                    if worker is not None and worker.death is not None:
                        self.report_death(worker.death)  # it died while idle: say so too
                    self._slots[index] = self._start(restart=worker is not None)
            return [w for w in self._slots if w is not None]

    def _start(self, *, restart: bool) -> WorkerProcess:
        if self._fatal is not None:
            raise LocalModelCrashError(self._fatal.describe())
        if restart:
            if self.restarts >= self.max_restarts:
                assert self._last_death is not None
                raise LocalModelCrashError(
                    f"{self._last_death.describe()}. It was restarted {self.restarts} time(s) "
                    f"(max_restarts={self.max_restarts}), so promptopt stops here; the run journal "
                    "and the response cache are intact: rerun with --resume once the cause is fixed"
                )
            self.restarts += 1
        worker = WorkerProcess(self.settings)
        try:
            ready = worker.wait_ready(self.ready_timeout_s)
        except WorkerDied as died:
            self._record(died.death)
            raise LocalModelCrashError(
                f"{died.death.describe()} while loading '{self.settings.model_path}'"
            ) from None
        self.system_info = ready.get("system_info")
        self.reuses_prefix = ready.get("reuses_prefix")
        self.parallel = int(ready.get("parallel") or 1)
        return worker

    def _record(self, death: WorkerDeath) -> None:
        self._last_death = death
        if not death.restartable:
            self._fatal = death

    def report_death(self, death: WorkerDeath) -> None:
        """Remember a death and, when the worker will be restarted, say so on one line."""
        with self._lock:
            first = self._last_death is not death
            self._record(death)
        # Without a restart left, or for SIGILL, the next batch raises the error that says it.
        if first and death.restartable and self.restarts < self.max_restarts:
            _log.warning(
                "%s; restarting it (restart %d of %d); its unanswered requests are sent again",
                death.describe(), self.restarts + 1, self.max_restarts,
            )

    async def complete(self, params: Sequence[dict[str, Any]]) -> list[ChatResponse]:
        """One response per parameter set, in order; a worker's death fails only what it held."""
        workers = await asyncio.to_thread(self.workers)
        queue = deque(enumerate(params))
        results: list[ChatResponse | None] = [None] * len(params)
        deaths: list[WorkerDeath] = []

        async def drain(worker: WorkerProcess) -> None:
            while queue:
                index, item = queue.popleft()
                try:
                    reply = await asyncio.wrap_future(worker.submit("complete", params=item))
                except WorkerDied as died:
                    deaths.append(died.death)
                    results[index] = ChatResponse.failure(died.death.describe(), WORKER_DIED)
                    self.report_death(died.death)
                    return
                results[index] = _response(reply)

        # Twice ``parallel`` requests in flight per worker: it decodes ``parallel`` together, and a
        # slot that frees takes a request already waiting in the worker at once, rather than after
        # the answer's round trip to this process and the next request's way back.
        in_flight = 2 * self.parallel if self.parallel and self.parallel > 1 else 1
        await asyncio.gather(*(drain(worker) for worker in workers for _ in range(in_flight)))
        for index, result in enumerate(results):
            if result is None:  # every worker died before this one was handed out
                results[index] = ChatResponse.failure(deaths[-1].describe(), WORKER_DIED)
        return results  # type: ignore[return-value]

    def count_tokens(self, text: str) -> int:
        """Blocking token count on the first worker."""
        reply = self.workers()[0].submit("count", text=text).result()
        if "count" not in reply:
            raise RuntimeError(f"token count failed: {reply.get('error')}")
        return int(reply["count"])

    def close(self) -> None:
        """Stop every worker. Idempotent."""
        with self._lock:
            self._closed = True
            slots, self._slots = self._slots, [None] * self.size
        for worker in slots:
            if worker is not None:
                worker.close()


def _response(reply: dict[str, Any]) -> ChatResponse:
    if "response" in reply:
        return ChatResponse.from_dict(reply["response"])
    return ChatResponse.failure(str(reply.get("error", "no answer")), ERROR_KIND)
