"""The one client every optimizer, judge and planner uses to talk to a model.

``LLMClient.complete`` takes a batch and returns one response per request, in order. Around the
backend it adds, in this order: the response cache (hits are flagged and not charged), coalescing
of identical in-flight requests, per-endpoint admission limits, retries with backoff and a
per-request timeout, and the usage ledger. A request that still fails comes back as a response
with ``error`` set; the rest of the batch completes and the caller decides.

The ledger is charged once per request, with every attempt that reached the server: retries are
spend (the server counted them, a provider bills them), so budgets and summaries see them.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from promptopt.errors import CacheError, PromptoptError
from promptopt.llm.backends.base import WORKER_DIED, Backend, PermanentError, TransientError
from promptopt.llm.cache import ResponseCache
from promptopt.llm.ledger import RoleUsage, UsageLedger
from promptopt.llm.limits import EndpointLimiter, Limits
from promptopt.llm.pricing import Price
from promptopt.llm.records import ChatRequest, ChatResponse, Usage, estimate_tokens
from promptopt.llm.retry import RetryPolicy

ResponseCallback = Callable[[int, ChatResponse], None]
#: Called with (role, number of requests) just before a batch goes to the backend; it may raise
#: (a budget stop) to keep the batch from being sent. Cached and coalesced answers are not guarded.
#: A guard with an ``allowance(role, estimates)`` method is also asked how many of the requests
#: fit (each estimated as a ``RoleUsage``): the client sends those, then asks again with what they
#: really cost, so that a batch near the limit is cut rather than sent whole.
SendGuard = Callable[[str, int], None]


@dataclass
class _Shared:
    """State shared by the per-role views of one client (same endpoint, cache and ledger)."""

    backend: Backend
    cache: ResponseCache | None
    ledger: UsageLedger
    limiter: EndpointLimiter
    retry: RetryPolicy
    price: Price | None
    rng: random.Random
    inflight: dict[str, "asyncio.Future[ChatResponse]"] = field(default_factory=dict)
    guard: SendGuard | None = None
    endpoint: str | None = None
    #: Prompt characters sent per role: with the ledger's prompt tokens, tokens per character.
    sent_chars: dict[str, int] = field(default_factory=dict)
    #: The event loop of ``complete_sync`` (kept between calls), once it has run.
    sync_loop: asyncio.AbstractEventLoop | None = None
    #: Answers to cache at the end of this event-loop step, each with its batch's error list.
    pending_puts: list[tuple[str, str, ChatResponse, list[CacheError]]] = field(default_factory=list)

    def cache_soon(self, key: str, model: str, response: ChatResponse, errors: list[CacheError]) -> None:
        """Cache ``response`` in one transaction with every other answer of this event-loop step.

        A commit per answer was the largest CPU cost per request left at hundreds of requests a
        second. The write is scheduled before the answer is handed out (``_finish`` sets the
        future after this), and the loop runs callbacks in order, so it is committed before any
        code that reacts to the answer runs: what a journal records is already cached.
        """
        self.pending_puts.append((key, model, response, errors))
        if len(self.pending_puts) == 1:
            asyncio.get_running_loop().call_soon(self.flush_puts)

    def flush_puts(self) -> None:
        pending, self.pending_puts = self.pending_puts, []
        if not pending or self.cache is None:
            return
        try:
            self.cache.put_many((key, model, response) for key, model, response, _ in pending)
        except CacheError as exc:  # each batch that had an answer here raises it when it ends
            for errors in {id(errors): errors for *_, errors in pending}.values():
                errors.append(exc)


class LLMClient:
    """Batch chat completions for one model, charged to one role."""

    def __init__(
        self,
        backend: Backend,
        *,
        role: str = "downstream",
        cache: ResponseCache | None = None,
        ledger: UsageLedger | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        price: Price | None = None,
        seed: int = 0,
        endpoint: str | None = None,
    ) -> None:
        self.role = role
        self._shared = _Shared(
            endpoint=endpoint,
            backend=backend,
            cache=cache,
            ledger=ledger if ledger is not None else UsageLedger(),
            limiter=EndpointLimiter(limits or Limits()),
            retry=retry or RetryPolicy(),
            price=price,
            rng=random.Random(seed),
        )

    @property
    def price(self) -> Price | None:
        """USD per token of this endpoint's model, or None when unknown (never taken as zero)."""
        return self._shared.price

    @property
    def endpoint(self) -> str:
        """What the user named this endpoint by (the model spec, credentials masked), for messages."""
        return self._shared.endpoint or self.model_identity

    # -- views -------------------------------------------------------------------------------
    def with_role(self, role: str) -> "LLMClient":
        """The same endpoint, cache, limits and ledger, charged to another role."""
        view = object.__new__(LLMClient)
        view.role = role
        view._shared = self._shared
        return view

    def set_guard(self, guard: SendGuard | None) -> None:
        """Install a check run before every batch is sent (shared by all role views)."""
        self._shared.guard = guard

    @property
    def backend(self) -> Backend:
        return self._shared.backend

    @property
    def ledger(self) -> UsageLedger:
        return self._shared.ledger

    @property
    def cache(self) -> ResponseCache | None:
        return self._shared.cache

    @property
    def limiter(self) -> EndpointLimiter:
        return self._shared.limiter

    @property
    def model_identity(self) -> str:
        return self._shared.backend.model_identity

    # -- the batch API -----------------------------------------------------------------------
    async def complete(
        self, requests: Sequence[ChatRequest], *, on_response: ResponseCallback | None = None
    ) -> list[ChatResponse]:
        """One response per request, in order; ``on_response(index, response)`` as each lands."""
        shared = self._shared
        loop = asyncio.get_running_loop()
        keys = [request.fingerprint(self.model_identity) for request in requests]
        results: list[ChatResponse | None] = [None] * len(requests)

        fresh = [key for key in dict.fromkeys(keys) if key not in shared.inflight]
        hits = shared.cache.get_many(fresh) if shared.cache is not None and fresh else {}
        owned: list[tuple[str, ChatRequest]] = []
        waits: list[tuple[int, asyncio.Future[ChatResponse], bool]] = []
        for index, (key, request) in enumerate(zip(keys, requests)):
            if key in hits:
                results[index] = hits[key]
                continue
            future = shared.inflight.get(key)
            if future is None:
                future = loop.create_future()
                shared.inflight[key] = future
                owned.append((key, request))
                waits.append((index, future, False))
            else:
                waits.append((index, future, True))
        if owned and shared.guard is not None:
            try:
                shared.guard(self.role, len(owned))
            except BaseException:
                for key, _ in owned:
                    shared.inflight.pop(key, None).set_result(  # type: ignore[union-attr]
                        ChatResponse.failure("not sent: the run was stopped", "cancelled")
                    )
                raise
        hit_count = len(requests) - len(waits)
        if hit_count:
            shared.ledger.record_hit(self.role, hit_count)
        if on_response is not None:
            for index, response in enumerate(results):
                if response is not None:
                    on_response(index, response)
            for index, future, coalesced in waits:
                future.add_done_callback(
                    lambda f, i=index, c=coalesced: on_response(i, _view(f.result(), c))
                )

        cache_errors: list[CacheError] = []
        try:
            if owned:
                await self._dispatch_guarded(owned, cache_errors)
        finally:
            for key, _ in owned:
                future = shared.inflight.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(ChatResponse.failure("request was cancelled", "cancelled"))
        for index, future, coalesced in waits:
            response = await future
            if coalesced and response.ok:
                shared.ledger.record_hit(self.role)
            results[index] = _view(response, coalesced)
        shared.flush_puts()  # a batch answered in one step (native batching) is written before it returns
        if cache_errors:
            raise cache_errors[0]
        return results  # type: ignore[return-value]

    async def complete_one(self, request: ChatRequest) -> ChatResponse:
        return (await self.complete([request]))[0]

    def complete_sync(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Blocking wrapper for scripts and the CLI (not for use inside a running event loop).

        Every call runs on one event loop this client keeps: connection pools and limiter slots
        belong to the loop that made them, so a new loop per call (``asyncio.run``) failed every
        call after the first. :meth:`close_sync` closes the client and that loop.
        """
        shared = self._shared
        if shared.sync_loop is None:
            shared.sync_loop = asyncio.new_event_loop()
        return shared.sync_loop.run_until_complete(self.complete(requests))

    def close_sync(self) -> None:
        """Blocking :meth:`aclose` for a client used through :meth:`complete_sync`."""
        shared = self._shared
        loop, shared.sync_loop = shared.sync_loop, None
        if loop is None:
            asyncio.run(self.aclose())
            return
        try:
            loop.run_until_complete(self.aclose())
        finally:
            loop.close()

    async def aclose(self) -> None:
        await self._shared.backend.aclose()

    # -- sending -----------------------------------------------------------------------------
    async def _dispatch_guarded(self, owned: list[tuple[str, ChatRequest]], cache_errors: list[CacheError]) -> None:
        """Send ``owned``; near a budget limit, only the part the guard's allowance lets go, then
        the next part once what it cost is known (the allowance raises when none fits)."""
        shared = self._shared
        allowance = getattr(shared.guard, "allowance", None)
        while allowance is not None:
            fits = allowance(self.role, self._estimates([request for _, request in owned]))
            if fits >= len(owned):
                break
            part, owned = owned[:fits], owned[fits:]
            await self._dispatch(part, cache_errors)
            assert shared.guard is not None
            shared.guard(self.role, len(owned))
        await self._dispatch(owned, cache_errors)

    def _estimates(self, requests: Sequence[ChatRequest]) -> list[RoleUsage]:
        """What each request will likely cost: its prompt at this role's tokens per character so
        far (else ~4 characters a token), and this role's mean completion (else ``max_tokens``)."""
        spent = self.ledger.role(self.role)
        chars = self._shared.sent_chars.get(self.role, 0)
        per_char = spent.prompt_tokens / chars if chars and spent.prompt_tokens else 0.25
        completion = spent.completion_tokens / spent.requests if spent.requests else None
        return [
            RoleUsage(requests=1, prompt_tokens=math.ceil(r.approx_prompt_chars() * per_char),
                      completion_tokens=math.ceil(completion if completion is not None else (r.max_tokens or 256)))
            for r in requests
        ]

    async def _dispatch(
        self, owned: list[tuple[str, ChatRequest]], cache_errors: list[CacheError]
    ) -> None:
        sent = self._shared.sent_chars
        sent[self.role] = sent.get(self.role, 0) + sum(request.approx_prompt_chars() for _, request in owned)
        backend = self._shared.backend
        if backend.native_batching:
            chunk = getattr(backend, "max_batch", None) or len(owned)
            for start in range(0, len(owned), chunk):
                part = owned[start : start + chunk]
                responses = await self._send_native([request for _, request in part])
                for (key, _), response in zip(part, responses):
                    self._finish(key, response, cache_errors)
        else:
            # Senders pulling from one iterator, not a task per request: a batch of thousands
            # would first run every task up to the limiter before the first request left.
            # Twice the slots, so a request asleep between retries does not idle a slot.
            pending = iter(owned)

            async def sender() -> None:
                for key, request in pending:
                    log = _Attempts()
                    response = await self._send_one(request, log)
                    self._finish(key, response, cache_errors, log)

            senders = min(len(owned), 2 * self._shared.limiter.limits.max_concurrency)
            await asyncio.gather(*(sender() for _ in range(senders)))

    async def _send_native(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        """One native batch; requests whose worker died are sent again until answered.

        The backend restarts its worker for the next call, or raises a user-facing error when it
        cannot (it bounds the restarts): that stops the run before a request lost to a dead
        worker is scored as a wrong answer.
        """
        responses = await self._send_native_once(requests)
        attempt = 1
        while again := [i for i, r in enumerate(responses) if r.error_kind == WORKER_DIED]:
            attempt += 1
            retried = await self._send_native_once([requests[i] for i in again])
            for index, response in zip(again, retried):
                responses[index] = replace(response, attempts=attempt)
        return responses

    async def _send_native_once(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        try:
            responses = await self._shared.backend.complete(requests)
        except PromptoptError:
            raise  # the user's setup is wrong (e.g. a GGUF that cannot load): say so, loudly
        except Exception as exc:  # noqa: BLE001 - reported per request, never lost
            return [ChatResponse.failure(f"backend failed: {exc!r}", "backend_error")] * len(requests)
        if len(responses) != len(requests):
            message = f"backend returned {len(responses)} responses for {len(requests)} requests"
            return [ChatResponse.failure(message, "backend_error")] * len(requests)
        return list(responses)

    async def _send_one(self, request: ChatRequest, log: "_Attempts") -> ChatResponse:
        """One request with its retries; ``log`` counts what each attempt cost (for the ledger)."""
        started = time.monotonic()
        estimated = sum(estimate_tokens(m.content) for m in request.messages) + request.max_tokens
        try:
            try:
                response = await self._attempt(request, estimated, log)
            except TransientError as first:
                # Only failed requests pay for a retry controller: building one per request is
                # measurable at hundreds of requests per second.
                response = await self._retry(request, estimated, first, started, log)
        except TransientError as exc:
            return ChatResponse.failure(
                f"gave up after {log.made} attempt(s): {exc}",
                exc.kind,
                time.monotonic() - started,
                log.made,
            )
        except PermanentError as exc:
            return ChatResponse.failure(str(exc), exc.kind, time.monotonic() - started, log.made)
        except Exception as exc:  # noqa: BLE001 - a bug in a backend must not lose the batch
            return ChatResponse.failure(
                f"unexpected {type(exc).__name__}: {exc}",
                "internal",
                time.monotonic() - started,
                log.made,
            )
        return replace(response, attempts=log.made)

    async def _retry(
        self,
        request: ChatRequest,
        estimated: int,
        first: TransientError,
        started: float,
        log: "_Attempts",
    ) -> ChatResponse:
        """Attempts 2..max_attempts under tenacity: jittered backoff, Retry-After, deadline."""
        policy = self._shared.retry
        rng = self._shared.rng

        def out_of_time(upcoming_sleep: float) -> bool:
            if policy.deadline_s is None:
                return False
            elapsed = time.monotonic() - started
            return elapsed + upcoming_sleep + policy.timeout_s > policy.deadline_s

        def stop(state: RetryCallState) -> bool:
            upcoming = getattr(state, "upcoming_sleep", 0.0) or 0.0
            return log.made >= policy.max_attempts or out_of_time(upcoming)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return policy.backoff(log.made, getattr(error, "retry_after", None), rng)

        first_wait = policy.backoff(1, first.retry_after, rng)
        if policy.max_attempts <= 1 or out_of_time(first_wait):
            raise first
        await asyncio.sleep(first_wait)
        retrying = AsyncRetrying(
            stop=stop, wait=wait, retry=retry_if_exception_type(TransientError), reraise=True
        )
        async for attempt in retrying:
            with attempt:
                response = await self._attempt(request, estimated, log)
        return response

    async def _attempt(self, request: ChatRequest, estimated: int, log: "_Attempts") -> ChatResponse:
        shared = self._shared
        policy = shared.retry
        log.made += 1
        async with shared.limiter.slot(estimated) as reservation:
            try:
                responses = await _with_timeout(shared.backend.complete([request]), policy.timeout_s)
            except asyncio.TimeoutError:
                # Charged: the server may well have read the request (a hang is exactly that).
                log.sent += 1
                raise TransientError(
                    f"no answer within {policy.timeout_s:g}s (timeout)", "timeout"
                ) from None
            except TransientError as exc:
                log.failed(exc)
                if exc.retry_after is not None:
                    if exc.retry_after > policy.max_retry_after_s:
                        raise PermanentError(
                            f"server asked to retry after {exc.retry_after:g}s, more than "
                            f"max_retry_after_s={policy.max_retry_after_s:g}: {exc}",
                            exc.kind,
                        ) from None
                    shared.limiter.cool_down(exc.retry_after)
                raise
            except BaseException:
                log.sent += 1  # a permanent error is the server's answer; anything else: unknown
                raise
            log.sent += 1
            response = responses[0]
            reservation.actual_tokens = response.usage.total_tokens
            return response

    def _finish(
        self,
        key: str,
        response: ChatResponse,
        cache_errors: list[CacheError],
        log: "_Attempts | None" = None,
    ) -> None:
        """Record, cache and hand out one backend response (exactly once per owned key).

        ``log`` (single-request backends) says how many attempts reached the server and the
        tokens it reported for the failed ones; without it every attempt counts as sent.
        """
        shared = self._shared
        if response.error:  # a server may echo the key it was sent: no secret goes further
            from promptopt.redact import redact

            response = replace(response, error=redact(response.error))
        failed = log.failed_usage if log is not None else Usage()
        usd = None
        if shared.price is not None and (response.ok or failed.total_tokens):
            usd = shared.price.cost(failed) + (shared.price.cost(response.usage) if response.ok else 0.0)
        shared.ledger.record(
            self.role,
            response,
            usd,
            sent=None if log is None else log.sent,
            failed_usage=failed,
        )
        if response.ok and shared.cache is not None:
            shared.cache_soon(key, self.model_identity, response, cache_errors)
        future = shared.inflight.pop(key, None)
        if future is not None and not future.done():
            future.set_result(response)


@dataclass
class _Attempts:
    """What one request's attempts cost: how many were made, how many reached the server (a
    refused connect did not), and the tokens the server reported for those that failed."""

    made: int = 0
    sent: int = 0
    failed_usage: Usage = field(default_factory=Usage)

    def failed(self, error: TransientError) -> None:
        """Account for one attempt that ended in ``error``."""
        self.sent += error.sent
        if error.usage is not None:
            self.failed_usage += error.usage


async def _with_timeout(awaitable, seconds: float):  # noqa: ANN001, ANN202
    """``asyncio.timeout`` where available (3.11+): unlike ``wait_for`` it creates no extra task."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:
        return await asyncio.wait_for(awaitable, seconds)
    async with timeout(seconds):
        return await awaitable


def _view(response: ChatResponse, coalesced: bool) -> ChatResponse:
    """A coalesced waiter sees the owner's response flagged as not charged to it."""
    return response.as_cached() if coalesced and response.ok else response
