"""Each fault kind over real HTTP, and the determinism of fault decisions."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time

import httpx
import openai
import pytest

from promptopt.testing import FaultPlan, ServerConfig, TestServer, decide_fault, request_key


async def post(srv: TestServer, body: dict, timeout: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=timeout) as http:
        return await http.post("/chat/completions", json=body)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["429", "500", "503"])
async def test_error_status_faults(kind: str, chat_body) -> None:
    with TestServer(faults=FaultPlan(always=kind)) as srv:
        resp = await post(srv, chat_body("hi"))
        stats = srv.stats()
    assert resp.status_code == int(kind)
    assert set(resp.json()["error"]) >= {"message", "type", "code"}
    assert stats.faults_injected == {kind: 1} and stats.by_status == {int(kind): 1}
    assert stats.completions_ok == 0
    assert ("retry-after" in resp.headers) == (kind == "429")


@pytest.mark.asyncio
@pytest.mark.parametrize(("retry_after", "header", "header_ms"), [(1.0, "1", "1000"), (0.25, "0.25", "250")])
async def test_429_retry_after_headers(retry_after: float, header: str, header_ms: str, chat_body) -> None:
    with TestServer(faults=FaultPlan(always="429", retry_after_s=retry_after)) as srv:
        resp = await post(srv, chat_body("hi"))
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == header
    assert resp.headers["retry-after-ms"] == header_ms
    assert resp.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.asyncio
async def test_429_without_retry_after(chat_body) -> None:
    with TestServer(faults=FaultPlan(always="429", retry_after_s=None)) as srv:
        resp = await post(srv, chat_body("hi"))
    assert resp.status_code == 429 and "retry-after" not in resp.headers


@pytest.mark.asyncio
async def test_reset_fault_raises_connection_error(chat_body) -> None:
    with TestServer(faults=FaultPlan(always="reset")) as srv:
        with pytest.raises(httpx.TransportError) as info:
            await post(srv, chat_body("hi"))
        assert not isinstance(info.value, httpx.TimeoutException)
        assert srv.stats().faults_injected == {"reset": 1}


def test_reset_fault_sends_rst_not_fin(chat_body) -> None:
    body = json.dumps(chat_body("hi")).encode()
    with TestServer(faults=FaultPlan(always="reset")) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
            )
            with pytest.raises(ConnectionResetError):  # a FIN would read b"" instead
                sock.recv(1024)


@pytest.mark.asyncio
async def test_malformed_fault_is_200_with_invalid_json(chat_body) -> None:
    with TestServer(faults=FaultPlan(always="malformed")) as srv:
        resp = await post(srv, chat_body("hi"))
        assert srv.stats().completions_ok == 0
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        json.loads(resp.content)


@pytest.mark.asyncio
async def test_empty_body_fault_is_200_with_no_body_at_all(chat_body) -> None:
    with TestServer(faults=FaultPlan(always="empty_body")) as srv:
        resp = await post(srv, chat_body("hi"))
        stats = srv.stats()
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["content-length"] == "0"
    assert stats.faults_injected == {"empty_body": 1} and stats.completions_ok == 0


@pytest.mark.asyncio
async def test_no_choices_fault_reports_the_tokens_spent_but_no_choice(chat_body) -> None:
    with TestServer(faults=FaultPlan(schedule=["no_choices"])) as srv:
        dropped = await post(srv, chat_body("one two three"))
        served = await post(srv, chat_body("one two three"))
        stats = srv.stats()
    assert dropped.status_code == 200 and dropped.json()["choices"] == []
    # the usage of the answer that was dropped: 3 words + 4 per message, and the 3-word echo
    assert dropped.json()["usage"] == served.json()["usage"] == {
        "prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10
    }
    assert stats.faults_injected == {"no_choices": 1}
    assert stats.completions_ok == 1  # only the second carried a completion


def test_new_fault_kinds_come_last_so_seeded_plans_keep_their_faults() -> None:
    from promptopt.testing import FAULT_KINDS

    # rates are laid on the unit interval in this order: moving a kind would move every
    # seeded plan's faults onto other requests
    assert FAULT_KINDS[:8] == ("429", "500", "503", "hang", "reset", "malformed", "empty", "length")
    assert FAULT_KINDS[8:] == ("empty_body", "no_choices")


@pytest.mark.asyncio
async def test_empty_and_length_faults_are_valid_completions(chat_body) -> None:
    with TestServer(faults=FaultPlan(schedule=["empty", "length"])) as srv:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        try:
            msgs = [{"role": "user", "content": "one two three four"}]
            empty = await client.chat.completions.create(model="m", messages=msgs)  # type: ignore[arg-type]
            length = await client.chat.completions.create(model="m", messages=msgs)  # type: ignore[arg-type]
        finally:
            await client.close()
        stats = srv.stats()
    assert empty.choices[0].message.content == "" and empty.usage and empty.usage.completion_tokens == 0
    assert empty.choices[0].finish_reason == "stop"
    assert length.choices[0].finish_reason == "length"
    assert length.choices[0].message.content == "one two"
    assert stats.completions_ok == 2 and stats.faults_injected == {"empty": 1, "length": 1}


@pytest.mark.asyncio
async def test_hang_exceeds_client_timeout_and_stop_is_prompt(chat_body) -> None:
    srv = TestServer(faults=FaultPlan(always="hang", hang_s=30.0)).start()
    try:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await post(srv, chat_body("hi"), timeout=0.3)
        assert time.monotonic() - started < 3
        assert srv.stats().faults_injected == {"hang": 1}
        assert srv.stats().by_status == {}
    finally:
        # A second hang is still held open by the server while we stop it.
        body = json.dumps(chat_body("again")).encode()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        deadline = time.monotonic() + 5
        while srv.stats().faults_injected.get("hang") != 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 1.0
        assert sock.recv(1024) == b""  # closed without a response
        sock.close()


@pytest.mark.asyncio
async def test_short_hang_closes_connection_after_hang_s(chat_body) -> None:
    with TestServer(faults=FaultPlan(always="hang", hang_s=0.2)) as srv:
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):
            await post(srv, chat_body("hi"), timeout=5)
        assert 0.18 < time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_faults_do_not_hold_a_sequence_slot(chat_body, wait_until) -> None:
    config = ServerConfig(max_seqs=1, latency_s=0.5)
    with TestServer(config=config, faults=FaultPlan(schedule=[None, "500"])) as srv:
        slow = asyncio.create_task(post(srv, chat_body("slow")))
        await wait_until(lambda: srv.stats().max_in_service == 1)
        started = time.monotonic()
        fast = await post(srv, chat_body("fast"))
        assert fast.status_code == 500 and time.monotonic() - started < 0.3
        assert not slow.done()
        assert (await slow).status_code == 200


@pytest.mark.asyncio
async def test_schedule_takes_precedence_then_rates_apply(chat_body) -> None:
    plan = FaultPlan(schedule=["500", None, "429", "malformed"], rates={"503": 1.0})
    with TestServer(faults=plan) as srv:
        statuses = [(await post(srv, chat_body(f"q{i}"))).status_code for i in range(5)]
        srv.set_faults(FaultPlan(schedule=["429"]))  # a new plan starts its schedule afresh
        again = [(await post(srv, chat_body(f"q{i}"))).status_code for i in range(2)]
    assert statuses == [500, 200, 429, 200, 503]
    assert again == [429, 200]


@pytest.mark.asyncio
async def test_max_failures_per_key_makes_retries_exact(chat_body) -> None:
    plan = FaultPlan(always="500", max_failures_per_key=2)
    with TestServer(faults=plan) as srv:
        statuses = [(await post(srv, chat_body("same"))).status_code for _ in range(4)]
        other = (await post(srv, chat_body("other"))).status_code
    assert statuses == [500, 500, 200, 200] and other == 500


@pytest.mark.asyncio
async def test_openai_sdk_retries_through_capped_429s() -> None:
    plan = FaultPlan(always="429", max_failures_per_key=2, retry_after_s=0.01)
    messages = [{"role": "user", "content": "retry me"}]
    with TestServer(faults=plan) as srv:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=3)
        try:
            resp = await client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
        finally:
            await client.close()
        stats = srv.stats()
    assert resp.choices[0].message.content == "retry me"
    key = request_key({"model": "m", "messages": messages})
    assert stats.faults_injected == {"429": 2}
    assert stats.successes_per_key == {key: 1}
    assert len(stats.arrivals_per_key[key]) == 3
    assert stats.by_status == {429: 2, 200: 1}


PLAN = FaultPlan(rates={"429": 0.2, "500": 0.15, "503": 0.1}, seed=11, retry_after_s=None)
PROMPTS = [f"question number {i}" for i in range(24)]
ATTEMPTS = 3


def _body(prompt: str) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": prompt}], "temperature": 0.7}


async def _sequential_run() -> dict[tuple[str, int], int]:
    out = {}
    with TestServer(faults=PLAN) as srv:
        async with httpx.AsyncClient(base_url=srv.base_url) as http:
            for attempt in range(ATTEMPTS):
                for prompt in PROMPTS:
                    out[(prompt, attempt)] = (await http.post("/chat/completions", json=_body(prompt))).status_code
    return out


async def _concurrent_run() -> dict[tuple[str, int], int]:
    out = {}
    order = list(PROMPTS)
    random.Random(5).shuffle(order)
    with TestServer(faults=PLAN) as srv:
        async with httpx.AsyncClient(base_url=srv.base_url, limits=httpx.Limits(max_connections=30)) as http:

            async def attempts(prompt: str) -> None:
                for attempt in range(ATTEMPTS):
                    out[(prompt, attempt)] = (await http.post("/chat/completions", json=_body(prompt))).status_code

            await asyncio.gather(*(attempts(p) for p in order))
    return out


@pytest.mark.asyncio
async def test_fault_decisions_are_deterministic_across_runs_and_interleavings() -> None:
    first = await _sequential_run()
    second = await _concurrent_run()
    assert first == second
    predicted = {
        (p, a): int(decide_fault(PLAN, request_key(_body(p)), a) or 200) for p in PROMPTS for a in range(ATTEMPTS)
    }
    assert first == predicted
    assert {200, 429, 500} <= set(first.values())
