"""Batched decoding of the embedded model: one request at a time vs several in one llama.cpp batch.

Sends the requests an evaluation sends (the first of bench's initial prompts for sst2 on its first N dev
examples, rendered as ``promptopt optimize`` renders them, greedy, ``--max-tokens`` each) to the
embedded model: ``parallel=1`` (one at a time, llama-cpp-python's ``create_chat_completion``),
``parallel=P`` with ``reuse_prefix=1`` (a slot's cached prompt prefix reused: faster, not exact),
and ``parallel=P`` (P sequences decoded together, ``promptopt.llm.backends.llama_batch``), each in
one worker process with every core. Each layout loads the model before its timed batch. Checks
the answers are the same, request by request, and ends with one line:

    one_at_a_time_s=… batched_s=… speedup=… same_answers=…/N

    python bench/local_throughput.py [--examples 200] [--max-tokens 24] [--parallel 8] [--model PATH.gguf]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from promptopt.benchmark.plan import DEFAULT_INITIAL_PROMPTS
from promptopt.llm.backends.local import LocalBackend, available_cpus
from promptopt.llm.records import ChatRequest, Sampling
from promptopt.prompt import Prompt
from promptopt.tasks.registry import load_task

DATA = Path(os.environ.get("PROMPTOPT_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def requests(n: int, max_tokens: int) -> list[ChatRequest]:
    task = load_task("sst2", data_dir=DATA)
    prompt = Prompt(DEFAULT_INITIAL_PROMPTS["sst2"][0])
    sampling = Sampling(max_tokens=max_tokens)
    return [sampling.request(prompt.render(task.render_input(example), "paper")) for example in task.dev[:n]]


async def timed(parallel: int, batch: list[ChatRequest], model: str | None,
                reuse_prefix: bool = False) -> tuple[float, list[str]]:
    backend = LocalBackend(model, workers=1, n_threads=available_cpus(), parallel=parallel, reuse_prefix=reuse_prefix)
    try:
        await backend.complete([ChatRequest.user("Hi", max_tokens=1)])  # load the model
        start = time.perf_counter()
        responses = await backend.complete(batch)
        elapsed = time.perf_counter() - start
    finally:
        await backend.aclose()
    failed = [r.error for r in responses if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} request(s) failed with parallel={parallel}: {failed[:3]}")
    return elapsed, [r.text for r in responses]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=8, help="sequences decoded together in the batched run")
    parser.add_argument("--model", default=None, help="a GGUF path (default: the embedded SmolLM2-135M)")
    args = parser.parse_args()
    batch = requests(args.examples, args.max_tokens)
    one_s, one = asyncio.run(timed(1, batch, args.model))
    print(f"one at a time: {len(batch)} requests in {one_s:.1f} s ({len(batch) / one_s:.2f}/s)", flush=True)
    reuse_s, reused = asyncio.run(timed(args.parallel, batch, args.model, reuse_prefix=True))
    print(f"batched, reuse_prefix=1: {len(batch)} requests in {reuse_s:.1f} s, speedup {one_s / reuse_s:.2f}, "
          f"same answers {sum(a == b for a, b in zip(one, reused))}/{len(batch)} (not exact by design)")
    many_s, many = asyncio.run(timed(args.parallel, batch, args.model))
    print(f"batched (parallel={args.parallel}): {len(batch)} requests in {many_s:.1f} s ({len(batch) / many_s:.2f}/s)")
    same = sum(a == b for a, b in zip(one, many))
    for index, (a, b) in enumerate(zip(one, many)):
        if a != b:
            print(f"  differs at {index}: {a!r} vs {b!r}")
    print(f"one_at_a_time_s={one_s:.2f} batched_s={many_s:.2f} speedup={one_s / many_s:.2f} "
          f"same_answers={same}/{len(batch)}")


if __name__ == "__main__":
    main()
