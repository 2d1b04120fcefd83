"""The worker process that runs llama.cpp for the embedded backend.

Why a process: llama.cpp is native code. When it dies (an illegal instruction from a build made
for another CPU, a segfault, the out-of-memory killer) it must take only this process down, not
the optimizer with its journal and cache.

Protocol: one JSON object per line. The parent writes requests on our stdin
(``{"id": 7, "op": "complete", "params": {...}}`` or ``{"id": 8, "op": "count", "text": "..."}``);
we answer on the original stdout (``{"id": 7, "response": {...}}``, ``{"id": 8, "count": 3}``),
in the order they finish: with ``parallel`` > 1 generation requests are decoded together, and a
request that arrives while a batch runs joins it,
after announcing ``{"id": 0, "ready": {...}}`` once the model is loaded. File descriptor 1 is
pointed at stderr before llama.cpp is loaded, so whatever native code prints cannot corrupt the
protocol. End of stdin means the parent is gone or done: we exit at once, mid-generation if need be.

``PROMPTOPT_WORKER_TEST_SIGNAL=SIGILL`` (tests only) makes the worker raise that signal when its
first generation request arrives, to exercise crash handling without a broken build.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
from typing import Any, BinaryIO

from promptopt.errors import PromptoptError
from promptopt.llm.backends.llama_engine import EngineSettings, LlamaEngine, system_info

TEST_SIGNAL_ENV = "PROMPTOPT_WORKER_TEST_SIGNAL"


def _protocol_stream() -> BinaryIO:
    """Keep the real stdout for the protocol; send fd 1 (native prints) to stderr."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def _send(stream: BinaryIO, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")


def _read_stdin(inbox: "queue.Queue[dict[str, Any]]") -> None:
    for line in sys.stdin.buffer:
        if line.strip():
            inbox.put(json.loads(line))
    # End of input: the parent is done or dead, and nobody will read an answer. Exit now rather
    # than after the generation in progress (which may run for a minute on a slow model).
    os._exit(0)


def _raise_test_signal() -> None:
    name = os.environ.get(TEST_SIGNAL_ENV)
    if name:
        number = getattr(signal, name)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)


def _answer(engine: LlamaEngine, message: dict[str, Any]) -> dict[str, Any]:
    op = message.get("op")
    if op == "complete":
        _raise_test_signal()
        return {"response": engine.complete(message["params"]).to_dict()}
    if op == "count":
        return {"count": engine.count_tokens(message["text"])}
    return {"error": f"unknown op {op!r}"}


def serve(settings: EngineSettings) -> int:
    """Load the model, announce readiness, answer until stdin closes (then the process exits)."""
    out = _protocol_stream()
    engine = LlamaEngine(settings)
    try:
        engine.load()
        info = system_info()
    except PromptoptError as exc:
        _send(out, {"id": 0, "error": str(exc)})
        return 1
    _send(out, {"id": 0, "ready": {"pid": os.getpid(), "system_info": info, "reuses_prefix": engine.reuses_prefix,
                               "parallel": engine.parallel}})
    inbox: "queue.Queue[dict[str, Any]]" = queue.Queue()
    threading.Thread(target=_read_stdin, args=(inbox,), daemon=True).start()
    while True:  # ends in _read_stdin, at the end of the input
        message = inbox.get()
        if engine.batched and message.get("op") == "complete":
            _decode_together(engine, message, inbox, out)
        else:
            _reply(engine, message, out)


def _reply(engine: LlamaEngine, message: dict[str, Any], out: BinaryIO) -> None:
    try:
        reply = _answer(engine, message)
    except Exception as exc:  # noqa: BLE001 - one bad request must not end the worker
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    _send(out, {"id": message.get("id"), **reply})


def _decode_together(engine: LlamaEngine, first: dict[str, Any], inbox: "queue.Queue[dict[str, Any]]",
                     out: BinaryIO) -> None:
    """Generation requests decoded in one batch, joined by those arriving while it runs; other
    requests (token counts) are answered between two forward passes."""

    def arrived() -> list[tuple[Any, dict[str, Any]]]:
        joining = []
        while True:
            try:
                message = inbox.get_nowait()
            except queue.Empty:
                return joining
            if message.get("op") == "complete":
                _raise_test_signal()
                joining.append((message.get("id"), message["params"]))
            else:
                _reply(engine, message, out)

    _raise_test_signal()
    for ident, response in engine.run_batched([(first.get("id"), first["params"])], arrived):
        _send(out, {"id": ident, "response": response.to_dict()})


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    data = json.loads(args[0])
    sys.exit(serve(EngineSettings(**data)))


if __name__ == "__main__":
    main()
