"""The vLLM-like capacity model: max_seqs in service, the rest queued, timed service."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from promptopt.testing import ServerConfig, TestServer, constant


async def _burst(srv: TestServer, n: int, chat_body) -> tuple[float, list[int]]:
    limits = httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4)
    async with httpx.AsyncClient(base_url=srv.base_url, limits=limits, timeout=10) as http:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(http.post("/chat/completions", json=chat_body(f"request {i}")) for i in range(n))
        )
        return time.monotonic() - started, [r.status_code for r in responses]


@pytest.mark.asyncio
async def test_max_seqs_bounds_concurrency_and_queues_the_rest(chat_body) -> None:
    config = ServerConfig(max_seqs=4, latency_s=0.2)
    with TestServer(config=config) as srv:
        elapsed, statuses = await _burst(srv, 16, chat_body)
        stats = srv.stats()
    assert statuses == [200] * 16
    assert 0.75 <= elapsed <= 1.6  # 16 / 4 waves x 0.2 s
    assert stats.max_in_service == 4
    assert stats.max_queue_depth >= 8
    assert config.theoretical_capacity() == pytest.approx(20.0)


@pytest.mark.asyncio
async def test_decode_rate_sets_service_time(chat_body) -> None:
    config = ServerConfig(max_seqs=1, decode_tps=500)
    with TestServer(policy=constant(" ".join(["w"] * 50)), config=config) as srv:  # 0.1 s each
        elapsed, statuses = await _burst(srv, 3, chat_body)
        stats = srv.stats()
    assert statuses == [200] * 3
    assert 0.28 <= elapsed <= 1.0
    assert stats.max_in_service == 1 and stats.max_queue_depth == 2


async def _raw_keepalive_load(port: int, connections: int, per_connection: int) -> tuple[float, int]:
    """A minimal keep-alive client (one request in flight per connection): measures the server,
    not an HTTP library."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello world"}]}).encode()
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    ok = 0

    async def worker() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(per_connection):
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                payload = json.loads(await reader.readexactly(length))
                ok += head.startswith(b"HTTP/1.1 200") and payload["object"] == "chat.completion"
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.monotonic() - started, ok


@pytest.mark.asyncio
async def test_server_is_not_the_bottleneck_at_hundreds_of_requests_per_second() -> None:
    with TestServer() as srv:
        elapsed, ok = await _raw_keepalive_load(srv.port, connections=32, per_connection=25)
        stats = srv.stats()
    assert ok == 800 and stats.connections_total == 32
    assert 800 / elapsed > 500  # measured ~5000 req/s on 2 cores, client in the same process
