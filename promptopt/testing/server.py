"""The test server in a background thread with its own event loop, for in-process tests."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from promptopt.testing.app import ServerCore
from promptopt.testing.capacity import ServerConfig
from promptopt.testing.faults import FaultPlan
from promptopt.testing.policies import Policy, echo
from promptopt.testing.counters import ServerStats


class TestServer:
    """A loopback OpenAI-compatible server; use as ``with TestServer(...) as srv:``.

    Listens on 127.0.0.1 on a free port (``srv.port``; clients use ``srv.base_url``). Behaviour
    can be changed between test phases with :meth:`set_policy` and :meth:`set_faults`.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        policy: Policy | None = None,
        config: ServerConfig | None = None,
        faults: FaultPlan | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._core = ServerCore(policy or echo(), config or ServerConfig(), faults or FaultPlan())
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> ServerConfig:
        return self._core.config

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running; call start() or use 'with'")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the OpenAI SDK's ``base_url``."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT`` (``/stats`` lives here)."""
        return f"http://{self._host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "TestServer":
        """Start listening; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="promptopt-test-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("test server did not start in time")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            try:
                self._port = loop.run_until_complete(
                    self._core.start(self._host, self._requested_port)
                )
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self._core.close())
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        finally:
            loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop promptly, dropping open connections (hangs included). Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # loop already closed
            pass
        thread.join(timeout)
        self._thread = None
        self._loop = None
        self._port = None

    def stats(self) -> ServerStats:
        """A snapshot of the counters."""
        return self._core.stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters and restart the fault plan's per-key and schedule counters."""
        self._core.reset_stats()

    def set_faults(self, plan: FaultPlan) -> None:
        """Switch to ``plan``, starting it afresh (schedule position and counts at zero)."""
        self._core.set_faults(plan)

    def set_policy(self, policy: Policy) -> None:
        self._core.set_policy(policy)

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> "TestServer":
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
