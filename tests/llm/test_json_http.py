"""JsonHttp, the HTTP layer of the OpenAI-compatible backend, against real loopback servers.

The fault-injecting test server covers statuses, resets and timeouts through the whole client
(test_client.py, test_retry_accounting.py); these tests cover what that server cannot see: the
headers and environment conventions a hosted API relies on, and the proxy a company network needs.
"""

from __future__ import annotations

import asyncio
import socket
from typing import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from promptopt.llm.backends.base import PermanentError, TransientError
from promptopt.llm.backends.json_http import JsonHttp
from promptopt.llm.backends.openai_http import OpenAIBackend
from promptopt.llm.records import ChatRequest

pytestmark = pytest.mark.asyncio

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COMPLETION = {
    "id": "x", "object": "chat.completion", "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Starts an aiohttp app on 127.0.0.1 that answers every POST with ``handler``; gives its root URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_base_url_and_account_headers_come_from_the_sdks_variables(serve, monkeypatch) -> None:
    seen: list[tuple[str, dict[str, str], dict]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.headers), await request.json()))
        return web.json_response(COMPLETION)

    root = await serve(handler)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{root}/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-456")
    backend = OpenAIBackend("gpt-test", api_key="sk-secret")  # no base URL: the variable's
    try:
        [response] = await backend.complete([ChatRequest.user("ping", max_tokens=4, stop=("\n",))])
    finally:
        await backend.aclose()
    assert response.text == "pong" and response.usage.total_tokens == 4
    [(path, headers, body)] = seen
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-secret"
    assert headers["OpenAI-Organization"] == "org-123" and headers["OpenAI-Project"] == "proj-456"
    assert headers["Content-Type"] == "application/json"
    assert body == {"model": "gpt-test", "messages": [{"role": "user", "content": "ping"}], "temperature": 0.0,
                    "top_p": 1.0, "max_tokens": 4, "stop": ["\n"]}


async def test_a_remote_host_goes_through_the_environments_proxy_and_loopback_never_does(serve, monkeypatch) -> None:
    """The proxy sees the absolute URL of a host it alone can reach; NO_PROXY and loopback skip it."""
    proxied: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        proxied.append(str(request.url))
        return web.json_response({"via": "proxy"})

    async def direct(request: web.Request) -> web.Response:
        return web.json_response({"via": "direct"})

    proxy_root = await serve(proxy)
    direct_root = await serve(direct)
    monkeypatch.setenv("HTTP_PROXY", proxy_root)
    monkeypatch.setenv("http_proxy", proxy_root)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    remote = JsonHttp("http://api.example.invalid/v1", api_key="k")
    local = JsonHttp(f"{direct_root}/v1", api_key="k")
    try:
        assert await remote.post("chat/completions", {}) == {"via": "proxy"}
        assert await local.post("chat/completions", {}) == {"via": "direct"}
    finally:
        await remote.aclose()
        await local.aclose()
    assert proxied == ["http://api.example.invalid/v1/chat/completions"]

    monkeypatch.setenv("NO_PROXY", "example.invalid")
    monkeypatch.setenv("no_proxy", "example.invalid")
    assert JsonHttp("http://api.example.invalid/v1", api_key="k")._proxy is None


async def test_an_error_body_is_read_for_the_servers_own_words(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("busy"):
            return web.Response(status=503, text="upstream overloaded")
        return web.json_response({"error": {"message": "model 'nope' does not exist"}}, status=404)

    root = await serve(handler)
    backend = OpenAIBackend("nope", base_url=f"{root}/v1")
    busy = JsonHttp(f"{root}/v1", api_key="k")
    try:
        with pytest.raises(PermanentError, match="404 not found: model 'nope' does not exist") as missing:
            await backend.complete([ChatRequest.user("x")])
        assert missing.value.kind == "not_found"
        with pytest.raises(Exception, match="503 upstream overloaded"):
            await busy.post("busy", {})
    finally:
        await backend.aclose()
        await busy.aclose()


async def test_a_redirect_is_reported_with_its_target_not_followed(serve) -> None:
    """aiohttp would follow a 302 with a GET and no body; the user needs the new address instead."""
    calls: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.Response(status=307, headers={"Location": "https://moved.example/v1/chat/completions"})

    root = await serve(handler)
    backend = OpenAIBackend("m", base_url=f"{root}/v1")
    try:
        with pytest.raises(PermanentError, match="307 redirected to https://moved.example/v1/chat/completions"):
            await backend.complete([ChatRequest.user("x")])
    finally:
        await backend.aclose()
    assert calls == ["/v1/chat/completions"]


async def _transient_failure(port: int) -> TransientError:
    """What posting to ``127.0.0.1:port`` raises (it must be a TransientError)."""
    http = JsonHttp(f"http://127.0.0.1:{port}/v1", api_key="k")
    try:
        with pytest.raises(TransientError) as failure:
            await http.post("chat/completions", {})
    finally:
        await http.aclose()
    return failure.value


async def test_a_refused_connection_is_known_not_to_have_been_sent() -> None:
    with socket.socket() as probe:  # a port that was just free and that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = await _transient_failure(port)
    assert refused.kind == "connection" and refused.sent is False
    assert "Connection refused" in str(refused)


async def test_an_answer_that_is_not_http_is_a_retryable_malformed_reply() -> None:
    async def garble(reader, writer) -> None:  # noqa: ANN001
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT-HTTP garbage\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garble, "127.0.0.1", 0)
    try:
        garbled = await _transient_failure(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
    assert garbled.kind == "malformed" and garbled.sent is True
