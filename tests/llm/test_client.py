"""The client against the loopback test server: order, faults, retries, cache, coalescing, ledger."""

import asyncio
import time

import pytest

from promptopt.llm.cache import ResponseCache
from promptopt.llm.limits import Limits
from promptopt.llm.records import ChatRequest
from promptopt.llm.retry import RetryPolicy
from promptopt.testing import FaultPlan, ServerConfig, request_key


def _requests(n, prefix="item", **params):
    return [ChatRequest.user(f"{prefix} {i} please", max_tokens=32, **params) for i in range(n)]


def _server_prompt_tokens(request: ChatRequest) -> int:
    # the test server's documented formula: words + 4 per message
    return sum(len(m.content.split()) + 4 for m in request.messages)


@pytest.mark.asyncio
async def test_batch_answers_in_order_and_ledger_matches_server_usage(server, client_for):
    client = client_for(server)
    requests = _requests(40)
    responses = await client.complete(requests)
    assert [r.text for r in responses] == [f"item {i} please" for i in range(40)]
    assert all(r.ok and not r.cached and not r.usage.estimated for r in responses)
    usage = client.ledger.role("downstream")
    assert usage.requests == 40
    assert usage.prompt_tokens == sum(_server_prompt_tokens(r) for r in requests)
    assert usage.completion_tokens == 40 * 3
    assert server.stats().completions_ok == 40
    await client.aclose()


@pytest.mark.asyncio
async def test_thirty_percent_faults_every_request_answered_exactly_once(server_factory, client_for):
    faults = FaultPlan(
        rates={"429": 0.1, "500": 0.1, "hang": 0.05, "reset": 0.05},
        seed=7,
        max_failures_per_key=3,
        retry_after_s=0.1,
        hang_s=5.0,
    )
    server = server_factory(faults=faults, config=ServerConfig(max_seqs=64))
    retry = RetryPolicy(max_attempts=6, timeout_s=0.5, initial_backoff_s=0.02, max_backoff_s=0.2)
    client = client_for(server, retry=retry)
    requests = _requests(500, prefix="fault")
    start = time.monotonic()
    responses = await client.complete(requests)
    elapsed = time.monotonic() - start
    stats = server.stats()

    assert [r.error for r in responses if not r.ok] == []
    assert [r.text for r in responses] == [f"fault {i} please" for i in range(500)]
    injected = sum(stats.faults_injected.values())
    assert injected / stats.requests_total >= 0.25, stats.faults_injected
    assert {"429", "500", "hang", "reset"} <= set(stats.faults_injected)
    keys = {request_key_of(server, r) for r in requests}
    assert len(keys) == 500
    assert all(stats.successes_per_key.get(key) == 1 for key in keys)
    assert stats.completions_ok == 500
    usage = client.ledger.role("downstream")
    assert usage.requests == sum(r.attempts for r in responses) == stats.requests_total  # retries too
    assert usage.requests - usage.retries == 500
    assert elapsed < 60
    await client.aclose()


def request_key_of(server, request: ChatRequest) -> str:
    from promptopt.llm.backends.openai_http import request_body

    return request_key({"model": "test-model", **request_body(request)})


@pytest.mark.asyncio
async def test_retry_after_is_honoured(server_factory, client_for):
    server = server_factory(faults=FaultPlan(schedule=["429"], retry_after_s=1.0))
    client = client_for(server)
    request = ChatRequest.user("wait for me", max_tokens=8)
    [response] = await client.complete([request])
    assert response.ok and response.attempts == 2
    arrivals = server.stats().arrivals_per_key[request_key_of(server, request)]
    assert len(arrivals) == 2
    delay = arrivals[1] - arrivals[0]
    assert 1.0 <= delay < 2.0, delay
    await client.aclose()


@pytest.mark.asyncio
async def test_retry_after_pauses_the_whole_endpoint(server_factory, client_for):
    server = server_factory(faults=FaultPlan(schedule=["429"], retry_after_s=0.6))
    client = client_for(server, limits=Limits(max_concurrency=1))
    start = time.monotonic()
    responses = await client.complete(_requests(3, prefix="queued"))
    assert all(r.ok for r in responses)
    # the first request's 429 held back the others too
    assert time.monotonic() - start >= 0.6
    await client.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("fault, kind", [("500", "server_error"), ("hang", "timeout"), ("503", "server_error")])
async def test_always_failing_endpoint_yields_errors_in_bounded_time(
    server_factory, client_for, fault, kind
):
    server = server_factory(faults=FaultPlan(always=fault, hang_s=30.0))
    retry = RetryPolicy(max_attempts=3, timeout_s=0.3, initial_backoff_s=0.05, max_backoff_s=0.1, deadline_s=5.0)
    client = client_for(server, retry=retry)
    start = time.monotonic()
    responses = await client.complete(_requests(20, prefix=fault))
    elapsed = time.monotonic() - start
    assert all(not r.ok and r.error_kind == kind for r in responses)
    assert all(r.attempts == 3 for r in responses)
    assert "gave up after 3 attempt(s)" in responses[0].error
    assert elapsed < 3 * 0.3 + 2 * 0.1 + 1.5
    usage = client.ledger.role("downstream")
    assert usage.errors == 20 and usage.requests == 60 == server.stats().requests_total  # 3 attempts each
    await client.aclose()


@pytest.mark.asyncio
async def test_deadline_bounds_total_time(server_factory, client_for):
    server = server_factory(faults=FaultPlan(always="hang", hang_s=30.0))
    retry = RetryPolicy(max_attempts=50, timeout_s=0.2, initial_backoff_s=0.01, max_backoff_s=0.02, deadline_s=1.0)
    client = client_for(server, retry=retry)
    start = time.monotonic()
    [response] = await client.complete(_requests(1))
    assert not response.ok and response.error_kind == "timeout"
    assert time.monotonic() - start <= 1.3
    await client.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["reset", "malformed", "429"])
async def test_transient_faults_are_retried(server_factory, client_for, fault):
    server = server_factory(faults=FaultPlan(schedule=[fault], retry_after_s=0.05))
    client = client_for(server)
    [response] = await client.complete(_requests(1))
    assert response.ok and response.attempts == 2
    assert server.stats().faults_injected == {fault: 1}
    await client.aclose()


@pytest.mark.asyncio
async def test_empty_and_length_pass_through_to_the_caller(server_factory, client_for):
    server = server_factory(faults=FaultPlan(schedule=["empty", "length"]))
    client = client_for(server, limits=Limits(max_concurrency=1))
    first, second = await client.complete(_requests(2))
    assert first.ok and first.text == "" and first.attempts == 1
    assert second.ok and second.finish_reason == "length"
    await client.aclose()


@pytest.mark.asyncio
async def test_permanent_errors_are_not_retried(server, client_for):
    from promptopt.llm.connection import connect

    client = connect(f"openai:test-model@{server.base_url}/nope", cache=None)
    [response] = await client.complete(_requests(1))
    assert not response.ok and response.error_kind == "not_found" and response.attempts == 1
    assert server.stats().requests_total == 1
    await client.aclose()


@pytest.mark.asyncio
async def test_repeating_a_batch_is_served_from_cache(server, client_for, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    client = client_for(server, cache=cache)
    requests = _requests(30)
    first = await client.complete(requests)
    sent = server.stats().requests_total
    assert sent == 30
    charged = client.ledger.role("downstream")

    again = client_for(server, cache=cache)  # a fresh client and ledger, the same cache
    second = await again.complete(requests)
    assert server.stats().requests_total == sent  # 0 HTTP requests
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second)
    usage = again.ledger.role("downstream")
    assert usage.requests == 0 and usage.total_tokens == 0 and usage.cache_hits == 30
    assert charged.total_tokens > 0
    await client.aclose()
    await again.aclose()


@pytest.mark.asyncio
async def test_sample_index_and_params_are_distinct_cache_entries(server, client_for, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    client = client_for(server, cache=cache)
    base = ChatRequest.user("same words", max_tokens=8, temperature=0.7)
    variants = [base, ChatRequest.user("same words", max_tokens=8, temperature=0.7, sample_index=1),
                ChatRequest.user("same words", max_tokens=9, temperature=0.7)]
    await client.complete(variants)
    assert server.stats().requests_total == 3
    await client.complete(variants)
    assert server.stats().requests_total == 3
    await client.aclose()


@pytest.mark.asyncio
async def test_fifty_concurrent_identical_requests_send_one(server_factory, client_for):
    server = server_factory(config=ServerConfig(latency_s=0.2))
    client = client_for(server)  # no cache: coalescing alone must do it
    request = ChatRequest.user("one question", max_tokens=8)
    responses = await asyncio.gather(*(client.complete_one(request) for _ in range(50)))
    assert server.stats().requests_total == 1
    assert all(r.ok and r.text == "one question" for r in responses)
    assert sum(not r.cached for r in responses) == 1
    usage = client.ledger.role("downstream")
    assert usage.requests == 1 and usage.cache_hits == 49
    assert usage.prompt_tokens == _server_prompt_tokens(request)

    # duplicates inside one batch coalesce too
    batch = await client.complete([ChatRequest.user("another one", max_tokens=8)] * 50)
    assert server.stats().requests_total == 2
    assert {r.text for r in batch} == {"another one"}
    await client.aclose()


@pytest.mark.asyncio
async def test_requests_per_minute_limit_spaces_requests(server, client_for):
    client = client_for(server, limits=Limits(max_concurrency=64, requests_per_minute=1200))
    start = time.monotonic()
    responses = await client.complete(_requests(40, prefix="paced"))
    elapsed = time.monotonic() - start
    assert all(r.ok for r in responses)
    # a bucket of 20 (one second's worth) goes at once, the other 20 at 20 per second
    assert 0.9 <= elapsed <= 2.5, elapsed
    await client.aclose()


@pytest.mark.asyncio
async def test_roles_share_endpoint_and_ledger(server, client_for):
    downstream = client_for(server)
    meta = downstream.with_role("meta")
    await downstream.complete(_requests(3, prefix="d"))
    await meta.complete(_requests(2, prefix="m"))
    snapshot = downstream.ledger.snapshot()
    assert snapshot["downstream"].requests == 3 and snapshot["meta"].requests == 2
    assert meta.limiter is downstream.limiter
    assert downstream.ledger.total().requests == 5
    await downstream.aclose()


def test_complete_sync_serves_call_after_call_on_one_connection_pool(server, client_for):
    """Scripts call it in a loop; each call on a new event loop failed every call after the first."""
    client = client_for(server, limits=Limits(max_concurrency=1))
    first = client.complete_sync(_requests(2))
    second = client.complete_sync(_requests(2, prefix="again"))
    client.close_sync()
    assert [r.ok for r in first + second] == [True] * 4
    assert server.stats().connections_total == 1


@pytest.mark.asyncio
async def test_on_response_reports_every_index_once(server, client_for, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite3")
    client = client_for(server, cache=cache)
    await client.complete(_requests(5))
    seen = []
    await client.complete(_requests(10) + _requests(2), on_response=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(12))
    await client.aclose()


@pytest.mark.asyncio
async def test_an_answer_is_in_the_cache_file_before_anyone_sees_it(server, client_for, tmp_path):
    """Answers landing in one event-loop step are committed together; still, a callback (a journal
    writer) or a second process reading the file never sees an answer that is not yet kept."""
    path = tmp_path / "c.sqlite3"
    client = client_for(server, cache=ResponseCache(path))
    requests = _requests(40)
    keys = [request.fingerprint(client.model_identity) for request in requests]
    missing: list[int] = []

    def check(index: int, response) -> None:
        with ResponseCache(path) as reader:  # another connection: sees committed rows only
            if reader.get(keys[index]) is None:
                missing.append(index)

    responses = await client.complete(requests, on_response=check)
    await client.aclose()
    assert all(r.ok for r in responses) and missing == []


@pytest.mark.asyncio
async def test_guard_runs_before_sending_and_never_for_cache_hits(server, client_for, tmp_path):
    cache = ResponseCache(tmp_path / "g.sqlite3")
    client = client_for(server, cache=cache)
    calls = []

    class Stop(Exception):
        pass

    def guard(role, n):
        calls.append((role, n))
        if len(calls) > 1:
            raise Stop("budget")

    client.set_guard(guard)
    await client.complete(_requests(4))
    assert calls == [("downstream", 4)]
    await client.complete(_requests(4))  # all cached: the guard is not consulted
    assert calls == [("downstream", 4)]
    with pytest.raises(Stop):
        await client.with_role("meta").complete(_requests(3, prefix="new"))
    assert calls[-1] == ("meta", 3)
    assert server.stats().requests_total == 4  # the stopped batch was never sent
    assert client._shared.inflight == {}
    await client.aclose()


@pytest.mark.asyncio
async def test_a_batch_that_would_cross_the_token_budget_is_cut_to_what_fits(server, client_for):
    from promptopt.budget import Budget, BudgetExhausted, BudgetGuard, TokenLimit

    client = client_for(server)
    limit = 400
    client.set_guard(BudgetGuard(Budget([TokenLimit(limit)]), client.ledger))
    await client.complete(_requests(3, prefix="warm"))  # what a request costs, to estimate from
    first = client.ledger.total()
    per_request = first.total_tokens / first.requests
    with pytest.raises(BudgetExhausted, match="one more request would take about"):
        await client.complete(_requests(40))  # about 40 x 12 tokens: far over what is left
    spent = client.ledger.total()
    sent = server.stats().completions_ok
    assert 3 < sent < 43  # part of the batch went, the rest was never sent
    assert limit - 2 * per_request <= spent.total_tokens <= limit  # met, not overshot by a batch
    assert spent.requests == sent and client._shared.inflight == {}
    await client.aclose()
