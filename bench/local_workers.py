"""Embedded-model layouts on this machine: in-process vs worker processes, threads per worker.

Scores nothing: answers N sst2 dev examples (greedy, ``--max-tokens`` each) with every layout,
checks the answers are identical, and prints examples/second per layout and the ratio to the
in-process baseline. Each layout pays its start-up (model load) before its timed batch; the median of ``--rounds``
runs (in alternating order) is reported.

    python bench/local_workers.py [--examples 48] [--max-tokens 24] [--rounds 2] [--model PATH.gguf]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

from promptopt.llm.backends.local import LocalBackend, available_cpus
from promptopt.llm.records import ChatRequest

DATA = Path(os.environ.get("PROMPTOPT_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
INSTRUCTION = "Classify the sentiment of the review as negative or positive. Answer with one word."


def requests(n: int, max_tokens: int) -> list[ChatRequest]:
    lines = (DATA / "sst2" / "dev.jsonl").read_text().splitlines()[:n]
    texts = [json.loads(line)["text"] for line in lines]
    return [ChatRequest.from_messages([{"role": "system", "content": INSTRUCTION},
                                       {"role": "user", "content": t}], max_tokens=max_tokens) for t in texts]


async def timed(backend: LocalBackend, batch: list[ChatRequest]) -> tuple[float, list[str]]:
    await backend.complete([ChatRequest.user("Hi", max_tokens=1)] * max(1, backend.workers))  # load
    start = time.perf_counter()
    responses = await backend.complete(batch)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in responses), [r.error for r in responses if not r.ok][:3]
    return elapsed, [r.text for r in responses]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2, help="timed runs per layout (median reported)")
    parser.add_argument("--model", default=None, help="a GGUF path (default: the embedded SmolLM2-135M)")
    args = parser.parse_args()
    cpus = available_cpus()
    layouts = [("in-process", 0, cpus), ("1 worker", 1, cpus)]
    if cpus > 1:
        layouts += [("1 worker", 1, 1), (f"{cpus} workers", cpus, 1)]
    batch = requests(args.examples, args.max_tokens)
    times: dict[int, list[float]] = {i: [] for i in range(len(layouts))}
    same: dict[int, int] = {}
    reference = None
    # rounds alternate the order, so a slow spell of the machine does not favour one layout
    for round_ in range(args.rounds):
        order = range(len(layouts)) if round_ % 2 == 0 else reversed(range(len(layouts)))
        for index in order:
            _, workers, threads = layouts[index]
            backend = LocalBackend(args.model, workers=workers, n_threads=threads)
            try:
                elapsed, texts = asyncio.run(timed(backend, batch))
            finally:
                asyncio.run(backend.aclose())
            reference = reference or texts
            times[index].append(elapsed)
            same[index] = min(same.get(index, len(batch)), sum(a == b for a, b in zip(texts, reference)))
    rows = [(name, workers, threads, statistics.median(times[i]), same[i])
            for i, (name, workers, threads) in enumerate(layouts)]
    base = rows[0][3]
    print(f"{'layout':<12} {'workers':>7} {'threads':>7} {'seconds':>8} {'examples/s':>10} {'vs in-process':>13} same answers")
    for name, workers, threads, elapsed, same in rows:
        print(f"{name:<12} {workers:>7} {threads:>7} {elapsed:>8.2f} {len(batch) / elapsed:>10.2f} "
              f"{base / elapsed:>13.3f} {same}/{len(batch)}")
    worker = rows[1]
    print(f"in_process_eps={len(batch) / base:.2f} worker_eps={len(batch) / worker[3]:.2f} "
          f"ratio={base / worker[3]:.3f} same_answers={min(r[4] for r in rows)}/{len(batch)}")


if __name__ == "__main__":
    main()
