"""Evaluation throughput: 1 prompt × 500 examples against the test server at 64 sequences.

The test server runs in its own process as a 64-sequence server with a fixed latency per request
and a scripted policy that answers in <final_answer> tags; ``promptopt.evaluation.evaluate`` scores
the prompt on 500 sst2-style examples through the LLM layer (fresh cache, so every request is
sent). Prints wall time, achieved requests/s and the ratio to the server's theoretical capacity
(max_seqs / latency). The last line is machine-readable: ``capacity_ratio=X``.

Run: python bench/eval_throughput.py [--examples 500] [--max-seqs 64] [--latency 1.0]
                                      [--client-concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import reset_stats, server_stats, start_server  # noqa: E402


def build_task(n: int, tag: str):  # noqa: ANN201
    from promptopt.tasks.metrics import Accuracy
    from promptopt.tasks.parsers import LabelParser
    from promptopt.tasks.records import Example, SourceInfo
    from promptopt.tasks.task import Task

    examples = tuple(
        Example({"text": f"{tag} review {i}: the food was {'great' if i % 2 else 'awful'}"},
                "positive" if i % 2 else "negative", f"{tag}:{i}")
        for i in range(n)
    )
    return Task(
        name="bench_sentiment", description="Classify the sentiment.", input_fields=("text",),
        target_field="label", parser=LabelParser(labels=("negative", "positive")), metric=Accuracy(),
        dev=examples, test=examples, source=SourceInfo("builtin", "bench"), labels=("negative", "positive"),
    )


async def run(base_url: str, n: int, max_seqs: int, concurrency: int, cache_path: Path) -> tuple[float, float, int, int]:
    """Warm one client (connections, SDK start-up) on other examples, then time the evaluation:
    an optimizer evaluates through one long-lived client, so start-up is not part of the rate."""
    from promptopt.evaluation import evaluate
    from promptopt.llm.cache import ResponseCache
    from promptopt.llm.connection import connect
    from promptopt.llm.limits import Limits
    from promptopt.prompt import Prompt

    client = connect(f"openai:test-model@{base_url}", cache=ResponseCache(cache_path),
                     limits=Limits(max_concurrency=concurrency))
    prompt = Prompt("Classify the sentiment of the review. Answer in <final_answer></final_answer> tags.")
    warm = build_task(max_seqs, tag="warm")
    await evaluate([prompt], warm.test, warm, client)
    reset_stats(base_url)
    task = build_task(n, tag="bench")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    [result] = await evaluate([prompt], task.test, task, client)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await client.aclose()
    return wall, cpu, result.n - result.errors, result.parse_failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--max-seqs", type=int, default=64)
    parser.add_argument("--latency", type=float, default=1.0, help="fixed seconds per request")
    parser.add_argument("--client-concurrency", type=int, default=None,
                        help="requests the client keeps in flight (default: 2 x max-seqs, so the "
                             "server's queue never runs dry, as one drives a vLLM server)")
    args = parser.parse_args()
    concurrency = args.client_concurrency or 2 * args.max_seqs
    capacity = args.max_seqs / args.latency
    proc, base_url = start_server(args.max_seqs, args.latency, policy="constant",
                                  text="<final_answer>positive</final_answer>")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, ok, parse_failures = asyncio.run(
                run(base_url, args.examples, args.max_seqs, concurrency, Path(tmp) / "c.sqlite3")
            )
            stats = server_stats(base_url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rps = args.examples / wall
    print(f"server: {args.max_seqs} sequences x {args.latency:g}s -> capacity {capacity:.1f} req/s; "
          f"client keeps {concurrency} requests in flight")
    print(f"evaluated 1 prompt x {args.examples} examples in {wall:.2f}s: {rps:.1f} req/s, "
          f"{ok} answered, {parse_failures} parse failures, peak {stats.get('max_in_service')} sequences, "
          f"client CPU {1000 * cpu / args.examples:.3f} ms/example")
    print(f"capacity_ratio={rps / capacity:.3f}")


if __name__ == "__main__":
    main()
