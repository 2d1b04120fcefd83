"""promptolution's CAPO vs ours on sst2 and subj: test accuracy and wall time, same everything.

Both run against one llama.cpp server (the embedded SmolLM2-135M, one request at a time) behind
a metering proxy (bench/versus/meter.py), one after the other, per task and seed:

- **same endpoint and sampling**: downstream temperature 0.1, top_p 0.9, ``--max-tokens``;
  meta temperature 0.7, top_p 0.95, ``--meta-max-tokens``; the seed is sent with every request.
- **same data**: our CAPO's own split is used for both (few-shot pool carved from dev with the
  seed, dev cut to ``--dev-size`` and shuffled into blocks of ``--block-size``); promptolution
  gets the dev examples in block order, so its sequential blocks are our blocks, and our pool as
  ``df_few_shots``. Test: the first ``--test-limit`` test examples, for both.
- **prompt format**: promptolution sends instruction, examples and input as one user message;
  ours uses ``--renderer chat`` by default (instruction as system message, examples as turns),
  the format bench/capo_sst2.py uses because SmolLM2-135M follows it; ``--renderer paper`` is
  promptolution's format (SmolLM2 then rarely writes the answer tag our parser requires).
- **same initial prompts and hyperparameters**: μ = the 4 initial instructions below, c =
  ``--offspring``, K = ``--max-shots``, z = all blocks, α = 0.2, γ = 0.05.
- **same token budget**: promptolution bounds cost with callbacks checked at the end of each
  step (``TokenCountCallback`` counts whitespace-separated words) or with ``n_steps``. Its runner
  uses the same step-end check but counts the server's usage through the proxy, with
  ``--budget`` tokens (all requests, downstream and meta). Its run overshoots by up to one step;
  ours then gets exactly the tokens promptolution actually spent (metered) as its budget,
  checked before each batch, so both spend the same server-counted tokens (ours ≤ one batch
  over). Test-set scoring is outside the budget on both sides.
- **scoring**: each side scores its best prompt on the test examples its own way (prompt format,
  answer extraction); accuracies are also recomputed from the raw outputs with one rule for both:
  ``strict`` (our task's parser: a missing <final_answer> tag is wrong) and ``lenient``
  (promptolution's rule: text between the tags, or the whole output, lower-cased; anything not
  a label counts as the first label).

Prints a row per (task, seed) and side, the means, and ratio lines (ours / promptolution) for
accuracy and wall time. Run (~20 min on 2 cores)::

    bash bench/versus/setup.sh   # once
    flock /work/coord/cpu.lock timeout 2400 .venv/bin/python bench/versus/capo_vs_promptolution.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import (
    llama_server,
    meter_log,
    meter_proxy,
    meter_read,
    meter_reset,
    run_runner,
)

MODEL = "smollm2"
INITIAL = {
    "sst2": (
        "Classify the sentiment of the movie review as positive or negative.",
        "Is this movie review positive or negative? Answer inside <final_answer></final_answer> tags.",
        "Read the review and decide its sentiment: positive or negative. Put the label in <final_answer> tags.",
        ("Label the review's sentiment (negative or positive) and write the label between <final_answer> and "
         "</final_answer>."),
    ),
    "subj": (
        "Decide whether the sentence is subjective or objective.",
        ("Is this sentence an opinion (subjective) or a plot fact (objective)? Answer inside "
         "<final_answer></final_answer> tags."),
        "Read the sentence and label it subjective or objective. Put the label in <final_answer> tags.",
        ("Label the sentence as objective (a fact) or subjective (an opinion) and write the label between "
         "<final_answer> and </final_answer>."),
    ),
}


def lenient_label(text: str, labels: list[str]) -> str:
    """promptolution's extraction rule, restated: the text after the last opening tag up to the
    closing one (the whole output when there is none), lower-cased; not a label → first label."""
    inside = text.split("<final_answer>")[-1].split("</final_answer>")[0].strip().lower()
    return inside if inside in labels else labels[0]


def common_scores(task, examples, outputs: list[str]) -> dict[str, float]:
    labels = [label.lower() for label in task.labels]
    strict = [task.score(task.parse(out), ex.target) for ex, out in zip(examples, outputs)]
    lenient = [float(lenient_label(out, labels) == ex.target.lower()) for ex, out in zip(examples, outputs)]
    tagged = [("<final_answer>" in out) for out in outputs]
    return {"strict": statistics.mean(strict), "lenient": statistics.mean(lenient),
            "tagged": statistics.mean(tagged)}


def our_config(args: argparse.Namespace, seed: int):
    from promptopt.llm.records import Sampling
    from promptopt.optimizers.capo import CAPOConfig

    return CAPOConfig(
        population=4, offspring=args.offspring, block_size=args.block_size, max_blocks=args.dev_size // args.block_size,
        dev_size=args.dev_size, max_shots=args.max_shots, fewshot_pool=args.pool_size, renderer=args.renderer,
        sampling=Sampling(temperature=0.1, top_p=0.9, max_tokens=args.max_tokens, seed=seed),
        meta_sampling=Sampling(temperature=0.7, top_p=0.95, max_tokens=args.meta_max_tokens, seed=seed),
    )


def shared_split(task, config, seed: int, spec: str):
    """Our CAPO's own data preparation (pool, dev, blocks), so both sides get exactly it."""
    from promptopt.llm.connection import connect
    from promptopt.optimizers.capo import CAPO

    client = connect(spec, cache=None)
    capo = CAPO(task, client, client, config=config, seed=seed)
    capo._prepare_data()  # the exact split our run will use (no LLM call)
    ordered = [capo.dev[i] for block in capo.blocks[: capo.max_blocks] for i in block]
    return ordered, capo.pool, len(capo.blocks[0])


async def run_ours(task, config, seed: int, spec: str, meter: str, budget_tokens: int, test, workdir: Path) -> dict:
    from promptopt.budget import Budget
    from promptopt.evaluation import evaluate
    from promptopt.llm.cache import ResponseCache
    from promptopt.llm.connection import connect
    from promptopt.optimization import aoptimize

    start = time.perf_counter()
    result = await aoptimize(
        task, model=spec, budget=Budget.from_options(tokens=budget_tokens, stop_file=False), seed=seed,
        config=config, initial_prompts=INITIAL[task.name], run_dir=workdir / "run",
        cache=ResponseCache(workdir / "cache.sqlite3"),
    )
    optimize_wall = time.perf_counter() - start
    optimize_meter = meter_read(meter)
    client = connect(spec, cache=None)
    start = time.perf_counter()
    try:
        [scored] = await evaluate([result.best], test, task, client, sampling=config.sampling,
                                  renderer=config.renderer)
    finally:
        await client.aclose()
    test_wall = time.perf_counter() - start
    return {
        "best_instruction": result.best.instruction,
        "best_shots": len(result.best.examples),
        "dev_score": result.best_score.value,
        "steps": result.generations,
        "stop_reason": result.stop_reason,
        "optimize_wall_s": optimize_wall,
        "optimize_meter": optimize_meter,
        "own_token_count": sum(u.total_tokens for u in result.spend.values()),
        "spend_by_role": {role: {"requests": u.requests, "prompt_tokens": u.prompt_tokens,
                                 "completion_tokens": u.completion_tokens} for role, u in result.spend.items()},
        "test_wall_s": test_wall,
        "test_accuracy_own": scored.estimate.value,
        "test_outputs": [r.raw_output for r in scored.records],
    }


def one_seed(task_name: str, seed: int, args: argparse.Namespace, meter: str, workdir: Path) -> dict[str, dict]:
    from promptopt.tasks.registry import load_task

    task = load_task(task_name, data_dir=args.data_dir)
    spec = f"openai:{MODEL}@{meter}/v1" + (f"?max_concurrency={args.our_concurrency}" if args.our_concurrency else "")
    config = our_config(args, seed)
    dev, pool, block_size = shared_split(task, config, seed, spec)
    test = task.test[: args.test_limit]

    def row(example):
        return {"x": task.render_input(example), "y": example.target.lower()}

    theirs_args = {
        "mode": "capo", "base_url": f"{meter}/v1", "model": MODEL, "meter_url": meter, "seed": seed,
        "dev": [row(e) for e in dev], "fewshot_pool": [row(e) for e in pool], "test": [row(e) for e in test],
        "classes": [label.lower() for label in task.labels], "task_description": task.description,
        "initial_prompts": list(INITIAL[task_name]), "block_size": block_size,
        "max_blocks": len(dev) // block_size, "offspring": config.offspring, "max_shots": config.max_shots,
        "alpha": config.alpha, "length_penalty": config.length_penalty, "budget_tokens": args.budget,
        "max_steps": args.max_steps, "max_wall_s": args.max_wall,
        "sampling": {"temperature": 0.1, "top_p": 0.9, "max_tokens": args.max_tokens},
        "meta_sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": args.meta_max_tokens},
    }
    meter_reset(meter)
    start = time.perf_counter()
    theirs = run_runner("promptolution", "run_promptolution.py", theirs_args)
    theirs["process_wall_s"] = time.perf_counter() - start
    theirs["serving"] = serving_profile(meter_log(meter)[: theirs["optimize_meter"]["requests"]],
                                         args.max_tokens)
    budget = theirs["optimize_meter"]["total_tokens"] if args.budget_mode == "matched" else args.budget
    meter_reset(meter)
    ours = asyncio.run(run_ours(task, config, seed, spec, meter, budget, test, workdir / f"{task_name}-{seed}"))
    ours["serving"] = serving_profile(meter_log(meter)[: ours["optimize_meter"]["requests"]], args.max_tokens)
    for side in (theirs, ours):  # optimization spend as the server counted it (test excluded)
        side["optimize_tokens"] = side["optimize_meter"]["total_tokens"]
        side["optimize_requests"] = side["optimize_meter"]["requests"]
        side.update(common_scores(task, test, side["test_outputs"]))
    return {"promptolution": theirs, "ours": ours}


def serving_profile(log: list[dict], downstream_max_tokens: int) -> dict:
    """How the serial server spent its time on one side's optimization requests: service time per
    request (its finish minus the later of its arrival and the previous finish), by kind (meta:
    a larger max_tokens than downstream; tokenize: max_tokens 1, our server-side length count)
    and by whether it shared at least half its prompt text with the request served just before
    (llama.cpp reuses the previous request's prompt prefix)."""
    records = sorted(log, key=lambda r: r["end"])
    rows, previous_end, previous_text = [], None, ""
    for r in records:
        service = r["end"] - (r["start"] if previous_end is None else max(r["start"], previous_end))
        text, cap = r["text"], r["max_tokens"] or 0
        common = next((i for i, (a, b) in enumerate(zip(text, previous_text)) if a != b),
                      min(len(text), len(previous_text)))
        kind = "tokenize" if cap == 1 else "meta" if cap > downstream_max_tokens else "downstream"
        rows.append({"service_s": round(service, 4), "shared": common >= len(text) / 2, "kind": kind,
                     "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"]})
        previous_end, previous_text = r["end"], text
    profile = {"requests": len(rows), "service_s": round(sum(x["service_s"] for x in rows), 2),
               "switches": sum(1 for x in rows if not x["shared"]),
               "switch_service_s": round(sum(x["service_s"] for x in rows if not x["shared"]), 2)}
    for kind in ("downstream", "meta", "tokenize"):
        chosen = [x for x in rows if x["kind"] == kind]
        profile[kind] = {"requests": len(chosen), "service_s": round(sum(x["service_s"] for x in chosen), 2),
                         "prompt_tokens": sum(x["prompt_tokens"] or 0 for x in chosen),
                         "completion_tokens": sum(x["completion_tokens"] or 0 for x in chosen)}
    profile["log"] = rows
    return profile


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "n/a"


def show(task: str, seed: int, name: str, r: dict) -> None:
    print(f"{task:<5} {seed:>4} {name:<13} own {r['test_accuracy_own']:.3f}  strict {r['strict']:.3f}  "
          f"lenient {r['lenient']:.3f}  tagged {r['tagged']:.2f}  opt {r['optimize_wall_s']:6.1f}s  "
          f"test {r['test_wall_s']:5.1f}s  tokens {r['optimize_tokens']:>6} "
          f"(completion {r['optimize_meter']['completion_tokens']:>5})  steps {r['steps']}  "
          f"requests {r['optimize_requests']}  shots {r['best_shots']}  | {r['best_instruction'][:70]!r}",
          flush=True)
    v = r["serving"]
    kinds = ", ".join(f"{kind} {v[kind]['requests']} ({v[kind]['service_s']:.1f}s, "
                      f"{v[kind]['prompt_tokens'] + v[kind]['completion_tokens']} tok)"
                      for kind in ("downstream", "meta", "tokenize"))
    print(f"{'':>24} server busy {v['service_s']:.1f}s: {kinds}; {v['switches']} requests without the "
          f"previous one's prefix ({v['switch_service_s']:.1f}s)", flush=True)


def main() -> None:
    default_data = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data)
    parser.add_argument("--tasks", nargs="+", default=["sst2", "subj"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--budget", type=int, default=12_000, help="server-counted tokens for promptolution")
    parser.add_argument("--budget-mode", choices=("matched", "same"), default="matched",
                        help="matched: ours gets what promptolution actually spent; same: both get --budget")
    parser.add_argument("--max-steps", type=int, default=50, help="promptolution's n_steps (the budget stops first)")
    parser.add_argument("--max-wall", type=float, default=600.0, help="safety stop for promptolution, seconds")
    parser.add_argument("--dev-size", type=int, default=20)
    parser.add_argument("--block-size", type=int, default=10)
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--offspring", type=int, default=2)
    parser.add_argument("--max-shots", type=int, default=2)
    parser.add_argument("--test-limit", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--meta-max-tokens", type=int, default=96)
    parser.add_argument("--renderer", default="chat", choices=("paper", "chat"),
                        help="our prompt format: 'chat' (instruction as system message, examples as turns) is "
                             "what bench/capo_sst2.py uses for SmolLM2; 'paper' is promptolution's single message")
    parser.add_argument("--our-concurrency", type=int, default=None,
                        help="our requests in flight at once (default: the client's, 64; promptolution sends 32)")
    parser.add_argument("--json", type=Path, default=None, help="also write every row (with outputs) here")
    args = parser.parse_args()

    rows: list[tuple[str, int, dict[str, dict]]] = []
    total_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, llama_server(Path(tmp)) as root, meter_proxy(root) as meter:
        for task_name in args.tasks:
            for seed in args.seeds:
                pair = one_seed(task_name, seed, args, meter, Path(tmp))
                rows.append((task_name, seed, pair))
                for name in ("promptolution", "ours"):
                    show(task_name, seed, name, pair[name])
                if args.json:  # after every pair, so a stopped run keeps what it measured
                    args.json.write_text(json.dumps([{"task": t, "seed": s, **p} for t, s, p in rows], indent=1))
    summarize(rows, args.test_limit)
    print(f"total wall time {(time.perf_counter() - total_start) / 60:.1f} min")


def summarize(rows: list[tuple[str, int, dict[str, dict]]], test_limit: int) -> None:
    keys = ("test_accuracy_own", "lenient", "strict", "optimize_wall_s", "test_wall_s", "optimize_tokens",
            "optimize_requests")
    print(f"\nmeans over seeds (first {test_limit} test examples; tokens and requests = server-counted "
          "optimization spend; optimize = optimization wall time):")
    for task_name in dict.fromkeys(t for t, _, _ in rows):
        pairs = [pair for t, _, pair in rows if t == task_name]
        means = {}
        for name in ("promptolution", "ours"):
            sides = [p[name] for p in pairs]
            means[name] = m = {key: statistics.mean(s[key] for s in sides) for key in keys}
            sd = statistics.stdev([s["lenient"] for s in sides]) if len(sides) > 1 else 0.0
            print(f"{task_name:<5} {name:<13} n={len(sides)}  own {m['test_accuracy_own']:.3f}  lenient "
                  f"{m['lenient']:.3f} ± {sd:.3f}  strict {m['strict']:.3f}  optimize {m['optimize_wall_s']:.1f}s  "
                  f"test {m['test_wall_s']:.1f}s  tokens {m['optimize_tokens']:.0f}  requests {m['optimize_requests']:.0f}")
        o, p = means["ours"], means["promptolution"]
        accuracy = "  ".join(f"{key} {ratio(o[key], p[key])} ({100 * (o[key] - p[key]):+.1f} points)"
                             for key in ("test_accuracy_own", "lenient", "strict"))
        print(f"ratio {task_name} (ours / promptolution): accuracy {accuracy}")
        print(f"ratio {task_name} (ours / promptolution): optimize wall {ratio(o['optimize_wall_s'], p['optimize_wall_s'])}, "
              f"test wall {ratio(o['test_wall_s'], p['test_wall_s'])}, tokens {ratio(o['optimize_tokens'], p['optimize_tokens'])}, "
              f"requests {ratio(o['optimize_requests'], p['optimize_requests'])}, wall per 1k tokens "
              f"{ratio(o['optimize_wall_s'] / o['optimize_tokens'], p['optimize_wall_s'] / p['optimize_tokens'])}")

if __name__ == "__main__":
    main()
