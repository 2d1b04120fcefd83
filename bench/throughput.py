"""Client throughput against a loopback server with a vLLM-like capacity model.

Starts the test server in its own process as a 64-sequence server with a fixed latency per
request, sends N unique requests through (a) promptopt's client (cache on, limits, retries,
ledger: the configuration users run) and (b) a bare AsyncOpenAI client behind a semaphore, and
prints achieved requests/s as a fraction of the server's theoretical capacity (max_seqs /
latency), plus our client's CPU milliseconds per request. The last line is machine-readable:

    capacity_ratio=X reference_ratio=Y cpu_ms_per_request=Z

Run: python bench/throughput.py [--requests 2000] [--max-seqs 64] [--latency 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def start_server(
    max_seqs: int, latency: float, policy: str = "echo", text: str | None = None
) -> tuple[subprocess.Popen, str]:
    """The test server in its own process, so its CPU is not counted as the client's."""
    extra = ["--text", text] if text is not None else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptopt.testing", "serve", "--port", "0", "--max-seqs",
         str(max_seqs), "--latency", str(latency), "--policy", policy, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"test server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def server_stats(base_url: str) -> dict:
    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/stats", timeout=10) as reply:
        return json.loads(reply.read())


def reset_stats(base_url: str) -> None:
    root = base_url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(f"{root}/stats/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=10).read()


def prompts(n: int, tag: str) -> list[str]:
    return [f"{tag} request number {i}: classify this short sentence please" for i in range(n)]


async def run_ours(base_url: str, texts: list[str], max_seqs: int, cache_path: Path) -> tuple[float, float, int]:
    from promptopt.llm.cache import ResponseCache
    from promptopt.llm.connection import connect
    from promptopt.llm.limits import Limits
    from promptopt.llm.records import ChatRequest

    client = connect(
        f"openai:test-model@{base_url}",
        cache=ResponseCache(cache_path),
        limits=Limits(max_concurrency=max_seqs),
    )
    requests = [ChatRequest.user(t, max_tokens=16) for t in texts]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    responses = await client.complete(requests)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await client.aclose()
    return wall, cpu, sum(r.ok for r in responses)


async def run_reference(base_url: str, texts: list[str], max_seqs: int) -> tuple[float, float, int]:
    import httpx
    import openai

    client = openai.AsyncOpenAI(
        base_url=base_url,
        api_key="no-key",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=max_seqs, max_keepalive_connections=max_seqs)
        ),
    )
    gate = asyncio.Semaphore(max_seqs)

    async def one(text: str) -> bool:
        async with gate:
            reply = await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": text}], max_tokens=16,
                temperature=0.0,
            )
            return bool(reply.choices)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(one(t) for t in texts))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await client.close()
    return wall, cpu, sum(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seqs", type=int, default=64)
    parser.add_argument("--latency", type=float, default=1.0, help="fixed seconds per request")
    args = parser.parse_args()
    capacity = args.max_seqs / args.latency
    proc, base_url = start_server(args.max_seqs, args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # warm both paths (connection pools, imports) outside the measurement
            asyncio.run(run_reference(base_url, prompts(args.max_seqs, "warm-ref"), args.max_seqs))
            asyncio.run(run_ours(base_url, prompts(args.max_seqs, "warm-ours"), args.max_seqs, Path(tmp) / "warm.sqlite3"))
            rows = {}
            for name in ("reference", "ours"):
                reset_stats(base_url)
                texts = prompts(args.requests, name)
                if name == "ours":
                    wall, cpu, ok = asyncio.run(run_ours(base_url, texts, args.max_seqs, Path(tmp) / "c.sqlite3"))
                else:
                    wall, cpu, ok = asyncio.run(run_reference(base_url, texts, args.max_seqs))
                stats = server_stats(base_url)
                rows[name] = {
                    "wall_s": wall,
                    "rps": args.requests / wall,
                    "ratio": args.requests / wall / capacity,
                    "cpu_ms_per_request": 1000 * cpu / args.requests,
                    "ok": ok,
                    "server_max_in_service": stats.get("max_in_service"),
                }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"server: {args.max_seqs} sequences x {args.latency:g}s fixed latency -> "
          f"theoretical capacity {capacity:.1f} req/s; {args.requests} requests each")
    print(f"{'client':<10} {'wall s':>8} {'req/s':>8} {'ratio':>7} {'cpu ms/req':>11} {'ok':>6} {'peak seqs':>10}")
    for name, row in rows.items():
        print(f"{name:<10} {row['wall_s']:>8.2f} {row['rps']:>8.1f} {row['ratio']:>7.3f} "
              f"{row['cpu_ms_per_request']:>11.3f} {row['ok']:>6} {row['server_max_in_service']!s:>10}")
    print(
        f"capacity_ratio={rows['ours']['ratio']:.3f} reference_ratio={rows['reference']['ratio']:.3f} "
        f"cpu_ms_per_request={rows['ours']['cpu_ms_per_request']:.3f}"
    )


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    main()
