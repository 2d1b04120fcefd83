"""The server proper: HTTP routing, faults and the capacity model on one asyncio loop.

:class:`ServerCore` is shared by the in-thread :class:`~promptopt.testing.server.TestServer`
and the subprocess entry point (``python -m promptopt.testing serve``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import struct
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Union

from promptopt.testing.capacity import CapacityGate, ServerConfig
from promptopt.testing.accounting import completion_tokens
from promptopt.testing.completion import finish
from promptopt.testing.counters import StatsRecorder
from promptopt.testing.faults import EARLY_KINDS, FaultInjector, FaultPlan, request_key
from promptopt.testing.openai_format import (
    MALFORMED_BODY,
    completion_body,
    dumps,
    error_body,
    format_seconds,
    model_record,
    models_body,
    parse_chat_request,
)
from promptopt.testing.policies import Policy
from promptopt.testing.wire import HttpError, HttpRequest, read_request, render_response


@dataclass(frozen=True)
class Reply:
    """Send a response."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    #: The request key this reply answers (a completion): counted when it goes to a client still
    #: connected, so a request whose client died while it was served was never answered.
    answers: str | None = None


@dataclass(frozen=True)
class Hang:
    """Send nothing for ``seconds`` (or until shutdown), then close the connection."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Abort the connection with a TCP RST, sending nothing."""


Action = Union[Reply, Hang, Reset]

_LINGER_ZERO = struct.pack("ii", 1, 0)


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, error_body(status, message), headers)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, which makes the kernel send RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        except OSError:
            pass
    writer.transport.abort()


class ServerCore:
    """Serves the OpenAI-compatible API; :meth:`start` and :meth:`close` run on its loop.

    ``set_policy``/``set_faults``/``reset_stats``/``stats.snapshot`` may be called from any
    thread. ``set_faults`` (and ``reset_stats``) restart the plan: schedule position and
    per-key attempt/failure counts go back to zero.
    """

    def __init__(
        self,
        policy: Policy,
        config: ServerConfig | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.config = config or ServerConfig()
        self.policy = policy
        self.stats = StatsRecorder()
        self._injector = FaultInjector(faults or FaultPlan())
        self._server: asyncio.AbstractServer | None = None
        self._gate: CapacityGate | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    @property
    def faults(self) -> FaultPlan:
        return self._injector.plan

    def set_faults(self, plan: FaultPlan) -> None:
        self._injector = FaultInjector(plan)

    def set_policy(self, policy: Policy) -> None:
        self.policy = policy

    def reset_stats(self) -> None:
        self.stats.reset()
        self._injector.reset()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0: a free port); returns the bound port."""
        self._gate = CapacityGate(self.config.max_seqs, self.stats.observe_load)
        self._server = await asyncio.start_server(self._connection, host, port, backlog=1024)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and drop every connection, hanging ones included."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass

    # -- connections -------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connection()
        aborted = False
        try:
            while True:
                try:
                    request = await read_request(reader)
                except HttpError as exc:
                    self.stats.request(authorized=False)
                    self.stats.status(exc.status)
                    body = error_body(exc.status, exc.message)
                    writer.write(render_response(exc.status, body, keep_alive=False))
                    await writer.drain()
                    break
                if request is None:
                    break
                action = await self._route(request)
                if isinstance(action, Reset):
                    _reset(writer)
                    aborted = True
                    break
                if isinstance(action, Hang):
                    await asyncio.sleep(action.seconds)
                    break
                keep_alive = request.keep_alive
                if isinstance(action, Reply) and action.answers is not None:
                    if reader.at_eof():
                        break  # the client hung up while its request was served: nobody to answer
                    self.stats.completion_ok(action.answers)  # before the client can see it
                writer.write(
                    render_response(
                        action.status, action.body, headers=action.headers, keep_alive=keep_alive
                    )
                )
                await writer.drain()
                if not keep_alive:
                    break
        except OSError:  # the client went away
            pass
        except asyncio.CancelledError:
            # Shutdown. End quietly: asyncio's stream callback would log a cancelled handler.
            pass
        finally:
            self._tasks.discard(task)
            if not aborted:
                writer.close()

    async def _route(self, request: HttpRequest) -> Action:
        path = request.path.rstrip("/") or "/"
        if path in ("/stats", "/stats/reset"):
            return self._stats_endpoint(request, path)
        self.stats.request(authorized="authorization" in request.headers)
        sent = request.headers.get("authorization", "")
        if self.config.api_key is not None and sent != f"Bearer {self.config.api_key}":
            action: Action = _error(401, f"Incorrect API key provided: {sent or 'none'}")
        else:
            action = await self._dispatch(request, path)
        if isinstance(action, Reply):
            self.stats.status(action.status)
        return action

    async def _dispatch(self, request: HttpRequest, path: str) -> Action:
        if path == "/v1/chat/completions":
            if request.method != "POST":
                return _error(405, f"{request.method} not allowed on {path}")
            return await self._chat(request)
        if path == "/tokenize" and self.config.tokenize:
            if request.method != "POST":
                return _error(405, f"{request.method} not allowed on {path}")
            return self._tokenize(request)
        if path == "/v1/models" or path.startswith("/v1/models/"):
            if request.method != "GET":
                return _error(405, f"{request.method} not allowed on {path}")
            self.stats.models_request()
            if path == "/v1/models":
                return Reply(200, models_body(self.config.model))
            if path[len("/v1/models/") :] == self.config.model:
                return Reply(200, dumps(model_record(self.config.model)))
            return _error(404, f"model {path[len('/v1/models/'):]!r} does not exist")
        return _error(404, f"no route for {request.method} {request.path}")

    def _tokenize(self, request: HttpRequest) -> Reply:
        """llama.cpp's ``/tokenize`` (``content``; vLLM's ``prompt`` too): one token id per word,
        the count this server's usage accounting uses."""
        try:
            body = json.loads(request.body)
            text = body.get("content", body.get("prompt"))
        except (ValueError, AttributeError):
            text = None
        if not isinstance(text, str):
            return _error(400, "tokenize needs a string 'content'")
        self.stats.tokenize_request()
        return Reply(200, dumps({"tokens": list(range(completion_tokens(text)))}))

    def _stats_endpoint(self, request: HttpRequest, path: str) -> Reply:
        if path == "/stats" and request.method == "GET":
            return Reply(200, dumps(self.stats.snapshot().to_dict()))
        if path == "/stats/reset" and request.method == "POST":
            self.reset_stats()
            return Reply(200, dumps({"ok": True}))
        return _error(405, f"{request.method} not allowed on {path}")

    # -- chat completions --------------------------------------------------------------------

    async def _chat(self, request: HttpRequest) -> Action:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        if body.get("stream"):
            return _error(400, "stream=true is not supported by this test server")
        try:
            chat = parse_chat_request(body, self.config.model)
        except ValueError as exc:
            return _error(400, str(exc))

        key = request_key(body)
        self.stats.arrival(key, time.monotonic())
        injector = self._injector
        fault = injector.next(key)
        if fault is not None:
            self.stats.fault(fault)
            if fault in EARLY_KINDS:
                return self._early_fault(fault, injector.plan)

        assert self._gate is not None, "start() first"
        async with self._gate.slot():
            try:
                result = self.policy(chat)
                if isinstance(result, Awaitable):
                    result = await result
                completion = finish(result, chat, fault)
            except Exception as exc:  # a broken policy is a server error, not a crash
                return _error(500, f"policy failed: {exc!r}")
            seconds = self.config.service_time(
                completion.prompt_tokens, completion.completion_tokens
            )
            if seconds > 0:
                await asyncio.sleep(seconds)
        body_bytes = completion_body(
            f"chatcmpl-{next(self._ids):010d}",
            int(time.time()),
            chat.model,
            completion.text,
            completion.finish_reason,
            completion.prompt_tokens,
            completion.completion_tokens,
            with_choice=fault != "no_choices",
        )
        # no_choices carries no completion: served, but not answered
        return Reply(200, body_bytes, answers=None if fault == "no_choices" else key)

    @staticmethod
    def _early_fault(kind: str, plan: FaultPlan) -> Action:
        if kind == "429":
            headers: tuple[tuple[str, str], ...] = ()
            if plan.retry_after_s is not None:
                headers = (
                    ("retry-after", format_seconds(plan.retry_after_s)),
                    ("retry-after-ms", format_seconds(plan.retry_after_s * 1000)),
                )
            return _error(429, "Rate limit reached (injected fault)", headers)
        if kind in ("500", "503"):
            return _error(int(kind), f"injected {kind} fault")
        if kind == "hang":
            return Hang(plan.hang_s)
        if kind == "reset":
            return Reset()
        if kind == "empty_body":
            return Reply(200, b"")
        return Reply(200, MALFORMED_BODY)  # "malformed"
