"""Retries are spend: the ledger counts every HTTP request the server saw, retries included.

Against the loopback server with injected faults, the server's own counters are the truth: a
ledger that charged one request per answer (100 where the server saw 150) hid every retry from
budgets, summaries and the progress display.
"""

from __future__ import annotations

import json
import socket

import pytest

from promptopt.budget import Budget, BudgetState, CallLimit
from promptopt.llm.connection import connect
from promptopt.llm.ledger import RoleUsage, UsageLedger
from promptopt.llm.records import ChatRequest, ChatResponse, Usage
from promptopt.llm.retry import RetryPolicy
from promptopt.progress import spend_line, usage_note
from promptopt.testing import FaultPlan, ServerConfig


def _requests(n: int, prefix: str = "retry") -> list[ChatRequest]:
    return [ChatRequest.user(f"{prefix} {i} please", max_tokens=32) for i in range(n)]


def _prompt_tokens(request: ChatRequest) -> int:
    return sum(len(m.content.split()) + 4 for m in request.messages)  # the test server's formula


@pytest.mark.asyncio
async def test_ledger_requests_equal_server_requests_and_retries_are_the_difference(
    server_factory, client_for
):
    plan = FaultPlan(rates={"500": 0.2, "429": 0.15}, seed=3, max_failures_per_key=3, retry_after_s=0.01)
    server = server_factory(faults=plan, config=ServerConfig(max_seqs=32))
    client = client_for(server)
    requests = _requests(100)
    responses = await client.complete(requests)
    stats = server.stats()
    usage = client.ledger.role("downstream")

    assert all(r.ok for r in responses)
    assert set(stats.faults_injected) == {"500", "429"}
    assert stats.requests_total > 100  # the faults made retries happen
    assert usage.requests == stats.requests_total == sum(r.attempts for r in responses)
    assert usage.retries == stats.requests_total - 100
    # failed 500/429 attempts report no usage: nothing is invented for them
    assert usage.retry_tokens == 0
    assert usage.prompt_tokens == sum(_prompt_tokens(r) for r in requests)
    await client.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "hang", "malformed", "empty_body"])
async def test_each_kind_of_failed_attempt_the_server_saw_is_charged(server_factory, client_for, fault):
    # a reset reads as a connect failure through the SDK's transport, but the server had the request
    server = server_factory(faults=FaultPlan(schedule=[fault], retry_after_s=0.01, hang_s=5.0))
    retry = RetryPolicy(max_attempts=3, timeout_s=0.5, initial_backoff_s=0.01, max_backoff_s=0.02)
    client = client_for(server, retry=retry)
    [response] = await client.complete(_requests(1, prefix=fault))
    usage = client.ledger.role("downstream")
    assert response.ok and response.attempts == 2
    assert (usage.requests, usage.retries) == (server.stats().requests_total, 1) == (2, 1)
    await client.aclose()


@pytest.mark.asyncio
async def test_requests_that_give_up_charge_every_attempt(server_factory, client_for):
    server = server_factory(faults=FaultPlan(always="503"))
    retry = RetryPolicy(max_attempts=3, timeout_s=2.0, initial_backoff_s=0.01, max_backoff_s=0.02)
    client = client_for(server, retry=retry)
    responses = await client.complete(_requests(10, prefix="doomed"))
    usage = client.ledger.role("downstream")
    assert all(not r.ok and r.error_kind == "server_error" for r in responses)
    assert usage.requests == server.stats().requests_total == 30
    assert usage.retries == 20 and usage.errors == 10
    await client.aclose()


@pytest.mark.asyncio
async def test_tokens_reported_by_a_failed_attempt_are_charged_as_retry_tokens(server_factory, client_for):
    # the first attempt gets a 200 whose body has usage but no choice; the retry is answered
    server = server_factory(faults=FaultPlan(schedule=["no_choices"]))
    client = client_for(server)
    request = ChatRequest.user("count these four words", max_tokens=32)
    [response] = await client.complete([request])
    usage = client.ledger.role("downstream")
    assert response.ok and response.attempts == 2 and response.text == "count these four words"
    one_attempt = _prompt_tokens(request) + 4  # prompt + the four-word echo
    assert usage.requests == server.stats().requests_total == 2 and usage.retries == 1
    assert usage.retry_tokens == one_attempt
    assert usage.total_tokens == 2 * one_attempt  # charged: budgets see them
    await client.aclose()


@pytest.mark.asyncio
async def test_a_refused_connection_reached_no_server_and_costs_no_request():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    retry = RetryPolicy(max_attempts=2, timeout_s=2.0, initial_backoff_s=0.01, max_backoff_s=0.02)
    client = connect(f"openai:test-model@http://127.0.0.1:{port}/v1", cache=None, retry=retry)
    responses = await client.complete(_requests(3, prefix="refused"))
    usage = client.ledger.role("downstream")
    assert all(r.error_kind == "connection" and r.attempts == 2 for r in responses)
    assert (usage.requests, usage.retries, usage.errors) == (0, 0, 3)
    await client.aclose()


@pytest.mark.asyncio
async def test_optimize_summary_shows_the_retries_the_servers_saw(server_factory, tmp_path):
    import scripted  # tests/optimizers is on sys.path through conftest

    from promptopt.llm.records import Sampling
    from promptopt.optimization import aoptimize
    from promptopt.optimizers.capo import CAPOConfig

    # 429s with a short Retry-After: retried at once (the default backoff of 5xx would take seconds)
    plan = FaultPlan(rates={"429": 0.25}, seed=5, max_failures_per_key=2, retry_after_s=0.01)
    server = server_factory(policy=scripted.policy, faults=plan)
    config = CAPOConfig(population=4, offspring=2, block_size=30, max_blocks=2, dev_size=60, max_shots=1,
                        sampling=Sampling(max_tokens=32), meta_sampling=Sampling(temperature=0.7, max_tokens=64))
    result = await aoptimize(
        scripted.make_task(), model=f"openai:test-model@{server.base_url}",
        budget=Budget.from_options(generations=1), seed=3, config=config,
        initial_prompts=scripted.INITIAL, run_dir=tmp_path / "run", cache=None,
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    spend = summary["spend"]
    stats = server.stats()  # prompt lengths come from /tokenize: no LLM request, no spend
    assert stats.tokenize_requests > 0
    assert sum(role["requests"] for role in spend.values()) == stats.requests_total - stats.tokenize_requests
    assert sum(role["retries"] for role in spend.values()) > 0
    assert spend == {role: usage.to_dict() for role, usage in sorted(result.spend.items())}


def test_spend_written_before_retries_were_counted_still_loads():
    # a spend note or summary row of an older version: no retries, no retry_tokens
    old = {"requests": 7, "prompt_tokens": 70, "completion_tokens": 14, "estimated_token_responses": 0,
           "cache_hits": 2, "errors": 1, "latency_s": 0.5, "usd": None, "total_tokens": 84}
    usage = RoleUsage.from_dict(old)
    assert usage == RoleUsage(requests=7, prompt_tokens=70, completion_tokens=14, cache_hits=2, errors=1,
                              latency_s=0.5)
    assert usage.retries == 0 and usage.retry_tokens == 0
    # a later version's extra field does not break this one either
    assert RoleUsage.from_dict({**old, "some_future_field": 3}) == usage


@pytest.mark.asyncio
async def test_resume_replays_a_journal_whose_spend_notes_predate_retries(server_factory, tmp_path):
    import scripted

    from promptopt.llm.cache import ResponseCache
    from promptopt.llm.records import Sampling
    from promptopt.optimization import aoptimize
    from promptopt.optimizers.capo import CAPOConfig

    server = server_factory(policy=scripted.policy)
    cache = ResponseCache(tmp_path / "c.sqlite3")
    config = CAPOConfig(population=4, offspring=2, block_size=30, max_blocks=3, dev_size=90, max_shots=1,
                        sampling=Sampling(max_tokens=32), meta_sampling=Sampling(temperature=0.7, max_tokens=64))
    budget = Budget.from_options(tokens=12_000)

    async def run(resume: bool):
        return await aoptimize(
            scripted.make_task(), model=f"openai:test-model@{server.base_url}", budget=budget, seed=7,
            config=config, initial_prompts=scripted.INITIAL, run_dir=tmp_path / "run", cache=cache,
            resume=resume,
        )

    first = await run(False)
    assert "token budget" in first.stop_reason
    journal = tmp_path / "run" / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    notes = [e for e in events if e.get("event") == "spend"]
    assert notes and all("retries" in row for e in notes for row in e["usage"].values())
    for event in notes:  # as an older version wrote them
        for row in event["usage"].values():
            del row["retries"], row["retry_tokens"]
    journal.write_text("".join(json.dumps(e) + "\n" for e in events))
    sent = server.stats().requests_total

    again = await run(True)
    assert again.population == first.population and again.stop_reason == first.stop_reason
    assert server.stats().requests_total == sent  # replayed from the cache and the journal


def test_call_budget_counts_retries():
    ledger = UsageLedger()
    ledger.record("downstream", ChatResponse(text="x", attempts=3))  # two retries, then answered
    state = BudgetState(usage=ledger.snapshot())
    assert ledger.role("downstream").requests == 3
    assert CallLimit(3).reason(state) == "call budget reached: 3 of 3 requests (all roles)"
    assert Budget([CallLimit(4)]).reason(state) is None


def test_ledger_adds_failed_attempt_tokens_to_the_totals_it_charges():
    ledger = UsageLedger()
    answer = ChatResponse(text="x", usage=Usage(10, 2), attempts=2)
    ledger.record("meta", answer, sent=2, failed_usage=Usage(10, 0))
    ledger.record("meta", ChatResponse.failure("refused", "connection", attempts=2), sent=0)
    row = ledger.role("meta")
    assert (row.requests, row.retries, row.errors) == (2, 1, 1)
    assert (row.prompt_tokens, row.completion_tokens, row.retry_tokens) == (20, 2, 10)
    assert ledger.total() == row


def test_progress_display_shows_retries_and_their_tokens():
    quiet = RoleUsage(requests=40, prompt_tokens=1000, completion_tokens=234)
    flaky = RoleUsage(requests=150, retries=50, prompt_tokens=1000, completion_tokens=234, retry_tokens=12)
    assert usage_note(quiet) == "1,234 tok/40 calls"
    assert usage_note(flaky) == "1,234 tok/150 calls (50 retries, 12 retry tok)"
    assert usage_note(RoleUsage(requests=2, retries=1)) == "0 tok/2 calls (1 retry)"
    assert spend_line({"meta": quiet, "downstream": flaky}) == (
        "downstream 1,234 tok/150 calls (50 retries, 12 retry tok)  meta 1,234 tok/40 calls"
    )

