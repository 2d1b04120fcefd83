"""The parent's side of one llama.cpp worker process: start it, talk to it, notice its death.

Threads, not the event loop, read the worker's pipes, and answers arrive as
``concurrent.futures.Future`` objects: a backend may be used from several event loops over its
life (each ``asyncio.run`` is a new one), and futures bound to no loop serve them all.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout  # not the builtin before 3.11
from dataclasses import dataclass
from typing import IO, Any

from promptopt.errors import ModelSpecError
from promptopt.llm.backends.llama_build import reinstall_command
from promptopt.llm.backends.llama_engine import EngineSettings

WORKER_MODULE = "promptopt.llm.backends.local_worker"

#: Why a worker may have received each fatal signal, and what to do about it.
_SIGNAL_CAUSES = {
    signal.SIGILL: "illegal instruction: this llama-cpp-python build uses CPU instructions this "
    "machine cannot run (a -march=native build, e.g. AMX or AVX-512 advertised but not usable)",
    signal.SIGKILL: "killed: most often the out-of-memory killer, or another process",
    signal.SIGSEGV: "segmentation fault inside llama.cpp",
    signal.SIGBUS: "bus error inside llama.cpp (a model file changed or truncated while mapped?)",
    signal.SIGABRT: "llama.cpp aborted (see its last message below)",
    signal.SIGTERM: "terminated by another process",
}


@dataclass(frozen=True)
class WorkerDeath:
    """How a worker ended: its exit status (negative: the signal) and its last stderr lines."""

    pid: int
    returncode: int | None
    stderr_tail: str = ""

    @property
    def signal_number(self) -> int | None:
        code = self.returncode
        return -code if code is not None and code < 0 else None

    @property
    def restartable(self) -> bool:
        """False for an illegal instruction: a new worker runs the same build and dies the same way."""
        return self.signal_number != signal.SIGILL

    def describe(self) -> str:
        """One line: what happened, and for a broken build the exact command that fixes it."""
        number = self.signal_number
        if number is not None:
            name = signal.Signals(number).name
            cause = _SIGNAL_CAUSES.get(number, "killed by a signal")
            what = f"died with {name} ({cause})"
        elif self.returncode:
            what = f"exited with status {self.returncode}"
        else:
            what = "exited unexpectedly"
        line = f"the embedded model's worker process (pid {self.pid}) {what}"
        if number == signal.SIGILL:
            return f"{line}. Reinstall llama-cpp-python built portably: {reinstall_command(sys.executable)}"
        said = self.stderr_tail.strip().splitlines()
        return f"{line}; its last message: {said[-1][:300]}" if said else line


class WorkerDied(Exception):
    """The worker ended while a request was waiting for it."""

    def __init__(self, death: WorkerDeath) -> None:
        super().__init__(death.describe())
        self.death = death


class WorkerProcess:
    """One running worker. :meth:`submit` is thread-safe; answers come back as futures."""

    def __init__(self, settings: EngineSettings, *, env: dict[str, str] | None = None) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, json.dumps(settings.to_dict())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.pid: int = self._proc.pid
        self.ready: Future[dict[str, Any]] = Future()
        self.death: WorkerDeath | None = None
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._lock = threading.Lock()
        self._closing = False
        self._stderr: deque[str] = deque(maxlen=20)
        self._stderr_done = threading.Event()
        threading.Thread(target=self._read_stderr, name=f"promptopt-worker-{self.pid}-err", daemon=True).start()
        threading.Thread(target=self._read_stdout, name=f"promptopt-worker-{self.pid}-out", daemon=True).start()

    def __repr__(self) -> str:
        return f"WorkerProcess(pid={self.pid}, alive={self.alive})"

    @property
    def alive(self) -> bool:
        return self.death is None and not self._closing

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Block until the model is loaded; raises :class:`WorkerDied` or :class:`ModelSpecError`."""
        try:
            return self.ready.result(timeout=timeout_s)
        except FutureTimeout:
            self.close()
            raise ModelSpecError(
                f"the embedded model's worker process did not load the model within {timeout_s:.0f} s"
            ) from None

    def submit(self, op: str, **fields: Any) -> Future[dict[str, Any]]:
        """Send one request; the future holds the worker's reply or raises :class:`WorkerDied`."""
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self.death is not None:
                raise WorkerDied(self.death)
            if self._closing:
                raise RuntimeError("the worker process is closed")
            ident, self._next_id = self._next_id, self._next_id + 1
            self._pending[ident] = future
            line = json.dumps({"id": ident, "op": op, **fields}, ensure_ascii=False).encode("utf-8")
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(line + b"\n")
                self._proc.stdin.flush()
            except OSError:
                pass  # it died: the stdout reader sees the end and fails this future
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        """Ask the worker to finish (end of its stdin), then kill it if it does not. Idempotent."""
        with self._lock:
            self._closing = True
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    # -- reader threads -------------------------------------------------------------------------

    def _read_stderr(self) -> None:
        stream: IO[bytes] | None = self._proc.stderr
        assert stream is not None
        for raw in stream:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text)
        self._stderr_done.set()

    def _read_stdout(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        for raw in stream:
            try:
                message = json.loads(raw)
            except ValueError:
                continue  # not ours; fd 1 is redirected, so this should not happen
            self._deliver(message)
        returncode = self._proc.wait()
        self._stderr_done.wait(timeout=2.0)
        self._on_exit(WorkerDeath(self.pid, returncode, "\n".join(self._stderr)))

    def _deliver(self, message: dict[str, Any]) -> None:
        ident = message.get("id")
        if ident == 0:
            if "ready" in message:
                self.ready.set_result(message["ready"])
            else:
                self.ready.set_exception(ModelSpecError(str(message.get("error"))))
            return
        with self._lock:
            future = self._pending.pop(ident, None) if isinstance(ident, int) else None
        if future is not None:
            future.set_result(message)

    def _on_exit(self, death: WorkerDeath) -> None:
        with self._lock:
            if not self._closing:
                self.death = death
            pending, self._pending = self._pending, {}
        error = WorkerDied(death)
        for future in pending.values():
            future.set_exception(error)
        if not self.ready.done():
            self.ready.set_exception(error)
