"""Batched decoding of the embedded model: one request at a time vs several in one llama.cpp batch.

Sends the requests an evaluation sends (the first of bench's initial prompts for sst2 on its first N dev
examples, rendered as ``promptopt optimize`` renders them, greedy unless ``--temperature`` says
otherwise, ``--max-tokens`` each) to the embedded model in four layouts:

- one at a time from an empty context (``parallel=1&reuse_prefix=0``: llama-cpp-python's
  ``create_chat_completion`` after a reset, what the engine did before prefix reuse);
- one at a time reusing the prefix the previous request left (``parallel=1``, the default);
- ``parallel=P`` without prefix reuse (P sequences decoded together, ``llama_batch``);
- ``parallel=P`` (batched, each slot reusing its prefix).

The first layout is the engine as it was before prefix reuse and batching: one worker process
with every core. ``--workers W`` runs the other three in W processes, cores / W threads each (on
2 cores, 2 processes of one thread beat one of two threads one at a time and batched alike; the
line "batching alone" compares within that layout). Each layout loads the model before its timed
batch. Checks every answer equals the first layout's, request by request, and ends with one line
comparing the first layout with the last:

    one_at_a_time_s=… batched_s=… speedup=… same_answers=…/N

    python bench/local_throughput.py [--examples 200] [--max-tokens 24] [--parallel 8] [--workers 1]
        [--model PATH.gguf] [--temperature 0.1 --top-p 0.9] [--repeats 1]

With ``--repeats R`` every layout runs R times, in rounds, and the fastest run of each is compared
(the same code's wall time moves by 10-25% between runs on a shared machine); answers are checked
on every run.
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


def requests(n: int, max_tokens: int, temperature: float = 0.0, top_p: float = 1.0) -> list[ChatRequest]:
    task = load_task("sst2", data_dir=DATA)
    prompt = Prompt(DEFAULT_INITIAL_PROMPTS["sst2"][0])
    sampling = Sampling(temperature=temperature, top_p=top_p, max_tokens=max_tokens)
    return [sampling.request(prompt.render(task.render_input(example), "paper")) for example in task.dev[:n]]


async def timed(workers: int, parallel: int, batch: list[ChatRequest], model: str | None,
                reuse_prefix: bool) -> tuple[float, list[str]]:
    backend = LocalBackend(model, workers=workers, n_threads=max(1, available_cpus() // workers), parallel=parallel,
                           reuse_prefix=reuse_prefix)
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
    parser.add_argument("--parallel", type=int, default=8, help="sequences decoded together in the batched runs")
    parser.add_argument("--model", default=None, help="a GGUF path (default: the embedded SmolLM2-135M)")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="above 0, seeded sampled requests (CAPO's downstream: --temperature 0.1 --top-p 0.9)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes (each with cores / workers threads) for every layout but the first")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds of all layouts; each layout's fastest round is compared (wall times here move "
                             "by 10-25%% between runs of the same code)")
    args = parser.parse_args()
    batch = requests(args.examples, args.max_tokens, args.temperature, args.top_p)
    w, p = args.workers, args.parallel
    where = f", {w} workers" if w != 1 else ""
    layouts = [("one at a time, empty context", 1, 1, False), (f"one at a time, prefix reused{where}", w, 1, True),
               (f"parallel={p}, empty slots{where}", w, p, False), (f"parallel={p}, prefix reused{where}", w, p, True)]
    first: list[str] = []
    runs: dict[str, list[float]] = {name: [] for name, *_ in layouts}
    same_of: dict[str, int] = {}
    for round_ in range(1, args.repeats + 1):
        for name, workers, parallel, reuse in layouts:
            seconds, answers = asyncio.run(timed(workers, parallel, batch, args.model, reuse))
            runs[name].append(seconds)
            first = first or answers
            same = sum(a == b for a, b in zip(first, answers))
            same_of[name] = min(same, same_of.get(name, same))
            label = f"round {round_}: {name}" if args.repeats > 1 else name
            print(f"{label:<53} {seconds:7.1f} s  {len(batch) / seconds:5.2f} requests/s  "
                  f"speedup {runs[layouts[0][0]][-1] / seconds:4.2f}  same answers {same}/{len(batch)}", flush=True)
            for index, (a, b) in enumerate(zip(first, answers)):
                if a != b:
                    print(f"  differs at {index}: {a!r} vs {b!r}")
    best = {name: min(seconds) for name, seconds in runs.items()}
    first_s, last = best[layouts[0][0]], layouts[-1][0]
    if args.repeats > 1:
        for name, *_ in layouts:
            print(f"fastest of {args.repeats}: {name:<40} {best[name]:7.1f} s  speedup {first_s / best[name]:4.2f}  "
                  f"(runs: {', '.join(f'{s:.1f}' for s in runs[name])})")
    print(f"batching alone (one at a time vs parallel={p}, both reusing prefixes{where}): "
          f"{best[layouts[1][0]] / best[last]:.2f}x")
    print(f"one_at_a_time_s={first_s:.2f} batched_s={best[last]:.2f} speedup={first_s / best[last]:.2f} "
          f"same_answers={same_of[last]}/{len(batch)}")


if __name__ == "__main__":
    main()
