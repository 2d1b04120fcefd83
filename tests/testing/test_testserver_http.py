"""The HTTP surface, exercised with real clients (openai SDK, httpx)."""

from __future__ import annotations

import httpx
import openai
import pytest

from promptopt.testing import PolicyReply, ServerConfig, TestServer, constant, prompt_tokens, request_key


@pytest.mark.asyncio
async def test_openai_sdk_parses_completion_with_exact_usage(server: TestServer) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-secret", max_retries=0)
    try:
        messages = [
            {"role": "system", "content": "You answer tersely."},
            {"role": "user", "content": "repeat after me please"},
        ]
        resp = await client.chat.completions.create(model="my-model", messages=messages)  # type: ignore[arg-type]
    finally:
        await client.close()
    assert resp.object == "chat.completion"
    assert resp.model == "my-model"
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "repeat after me please"
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == (3 + 4) + (4 + 4)
    assert resp.usage.completion_tokens == 4
    assert resp.usage.total_tokens == 19
    stats = server.stats()
    assert stats.completions_ok == 1 and stats.by_status == {200: 1}
    assert stats.authorization_seen == 1
    assert "sk-secret" not in repr(stats)


@pytest.mark.asyncio
async def test_max_tokens_truncates_with_finish_reason_length(server: TestServer) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    try:
        resp = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "a b c d e f"}], max_tokens=3
        )
    finally:
        await client.close()
    assert resp.choices[0].message.content == "a b c"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 3


@pytest.mark.asyncio
async def test_models_endpoint() -> None:
    with TestServer(config=ServerConfig(model="served-model")) as srv:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        try:
            models = await client.models.list()
        finally:
            await client.close()
        assert [m.id for m in models.data] == ["served-model"]
        async with httpx.AsyncClient(base_url=srv.base_url) as http:
            raw = (await http.get("/models")).json()
            one = await http.get("/models/served-model")
            missing = await http.get("/models/other")
        assert raw["object"] == "list" and raw["data"][0]["object"] == "model"
        assert one.json()["id"] == "served-model" and missing.status_code == 404
        assert srv.stats().models_requests == 4


@pytest.mark.asyncio
async def test_client_errors_are_openai_style(server: TestServer, chat_body) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        stream = await http.post("/v1/chat/completions", json=chat_body("hi", stream=True))
        bad_json = await http.post("/v1/chat/completions", content=b"{not json")
        not_object = await http.post("/v1/chat/completions", json=[1, 2])
        no_messages = await http.post("/v1/chat/completions", json={"model": "m"})
        unknown = await http.get("/v2/whatever")
        wrong_method = await http.get("/v1/chat/completions")
    for resp, status in (
        (stream, 400), (bad_json, 400), (not_object, 400), (no_messages, 400), (unknown, 404), (wrong_method, 405)
    ):
        assert resp.status_code == status
        error = resp.json()["error"]
        assert set(error) >= {"message", "type", "code"} and error["message"]
    assert stream.json()["error"]["type"] == "invalid_request_error"
    assert server.stats().by_status == {400: 4, 404: 1, 405: 1}
    assert server.stats().completions_ok == 0


@pytest.mark.asyncio
async def test_keep_alive_reuses_one_connection(server: TestServer, chat_body) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for i in range(5):
            resp = await http.post("/chat/completions", json=chat_body(f"n {i}"))
            assert resp.status_code == 200
            assert resp.json()["choices"][0]["message"]["content"] == f"n {i}"
    stats = server.stats()
    assert stats.connections_total == 1 and stats.requests_total == 5


@pytest.mark.asyncio
async def test_set_policy_stats_and_reset(server: TestServer, chat_body) -> None:
    body = chat_body("one two")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.post("/chat/completions", json=body)).json()["choices"][0]["message"]["content"] == "one two"
        server.set_policy(constant("changed"))
        second = (await http.post("/chat/completions", json=body)).json()
        server.set_policy(lambda r: PolicyReply("x y z", finish_reason="stop", completion_tokens=7))
        third = (await http.post("/chat/completions", json=body)).json()
    async with httpx.AsyncClient(base_url=server.url) as http:
        root = (await http.get("/stats")).json()
    assert second["choices"][0]["message"]["content"] == "changed"
    assert third["usage"] == {
        "prompt_tokens": prompt_tokens([("user", "one two")]), "completion_tokens": 7, "total_tokens": 13
    }
    stats = server.stats()
    key = request_key(body)
    assert stats.successes_per_key == {key: 3} and len(stats.arrivals_per_key[key]) == 3
    assert list(stats.arrivals_per_key[key]) == sorted(stats.arrivals_per_key[key])
    assert root["completions_ok"] == 3  # /stats itself is not counted
    server.reset_stats()
    assert server.stats().requests_total == 0 and server.stats().successes_per_key == {}


@pytest.mark.asyncio
async def test_async_policy_and_failing_policy(server: TestServer, chat_body) -> None:
    async def slow_upper(request):  # type: ignore[no-untyped-def]
        return request.last_user.upper()

    def broken(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    async with httpx.AsyncClient(base_url=server.base_url) as http:
        server.set_policy(slow_upper)
        ok = await http.post("/chat/completions", json=chat_body("abc"))
        server.set_policy(broken)
        failed = await http.post("/chat/completions", json=chat_body("abc"))
    assert ok.json()["choices"][0]["message"]["content"] == "ABC"
    assert failed.status_code == 500 and "boom" in failed.json()["error"]["message"]


@pytest.mark.asyncio
async def test_async_context_manager(chat_body) -> None:
    async with TestServer() as srv:
        async with httpx.AsyncClient(base_url=srv.base_url) as http:
            assert (await http.post("/chat/completions", json=chat_body("hi"))).status_code == 200
        port = srv.port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)


def test_a_request_whose_client_hangs_up_while_it_is_served_is_not_answered(server_factory) -> None:
    import json
    import socket
    import time

    server = server_factory(config=ServerConfig(latency_s=0.5))
    host, port = server.base_url.split("://", 1)[1].split("/", 1)[0].split(":")
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "gone before the answer"}]}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + body)
        time.sleep(0.1)  # the request is being served (0.5 s) when its client dies
    time.sleep(1.0)
    stats = server.stats()
    assert stats.requests_total == 1 and stats.completions_ok == 0 and stats.successes_per_key == {}

    with httpx.Client(base_url=server.base_url, timeout=10) as client:  # one that waits is answered
        assert client.post("/chat/completions", content=body, headers={"Content-Type": "application/json"}).status_code == 200
    assert server.stats().completions_ok == 1
