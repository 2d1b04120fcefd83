"""CAPO on sst2 with the embedded model as downstream and meta model: initial vs optimized.

For each seed: optimize under a fixed token budget from the same hand-written initial
instructions, then score on the test split (never seen by the optimizer) both the best initial
prompt (the best of the initial population on the first dev block) and the optimized prompt.
Prints a row per seed, the mean ± sd over seeds, prompt length and tokens per role, and ends with
the machine-readable line:

    initial=X optimized=Y prompt_tokens=Z tokens=T

Run: python bench/capo_sst2.py [--data-dir ../shared/data] [--seeds 42 43 44] [--budget 60000]
     [--test-limit 100] [--renderer chat|paper]   (minutes per seed on 2 cores; the response cache makes reruns cheap)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

INITIAL = (
    "Classify the sentiment of the movie review as positive or negative.",
    "Is this movie review positive or negative? Answer inside <final_answer></final_answer> tags.",
    "Read the review and decide its sentiment: positive or negative. Put the label in <final_answer> tags.",
    "Label the review's sentiment (negative or positive) and write the label between <final_answer> and </final_answer>.",
)


async def one_seed(seed: int, args: argparse.Namespace, workdir: Path) -> dict:
    from promptopt.budget import Budget
    from promptopt.evaluation import evaluate
    from promptopt.llm.connection import connect
    from promptopt.llm.records import Sampling
    from promptopt.optimization import aoptimize
    from promptopt.optimizers.capo import CAPOConfig
    from promptopt.tasks.registry import load_task

    task = load_task("sst2", data_dir=args.data_dir)
    sampling = Sampling(temperature=0.1, top_p=0.9, max_tokens=args.max_tokens)
    config = CAPOConfig(population=4, offspring=2, block_size=10, max_blocks=4, dev_size=80, max_shots=2,
                        sampling=sampling, renderer=args.renderer)
    result = await aoptimize(task, model="local", budget=Budget.from_options(tokens=args.budget), seed=seed,
                             config=config, initial_prompts=INITIAL, run_dir=workdir / f"seed{seed}")
    best_initial = result.best_initial_id  # best of the initial population on the first dev block
    client = connect("local")
    test = task.test[: args.test_limit]
    try:
        initial_eval, optimized_eval = await evaluate(
            [result.candidates[best_initial].prompt, result.best], test, task, client, sampling=sampling,
            renderer=args.renderer,
        )
    finally:
        await client.aclose()
    return {
        "seed": seed,
        "initial": initial_eval.estimate.value,
        "optimized": optimized_eval.estimate.value,
        "initial_tokens": result.candidates[best_initial].tokens,
        "prompt_tokens": result.best_tokens,
        "generations": result.generations,
        "spend": {role: usage.total_tokens for role, usage in result.spend.items()},
    }


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main() -> None:
    default_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--budget", type=int, default=60_000, help="tokens per seed, all roles")
    parser.add_argument("--test-limit", type=int, default=100, help="test examples scored per prompt")
    parser.add_argument("--max-tokens", type=int, default=48, help="downstream completion cap")
    parser.add_argument("--renderer", default="chat", choices=("paper", "chat"),
                        help="prompt format; SmolLM2-135M follows few-shot turns (chat) far better than "
                             "the paper's single-message format")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            row = asyncio.run(one_seed(seed, args, Path(tmp)))
            rows.append(row)
            print(f"seed {seed}: initial {row['initial']:.3f} ({row['initial_tokens']} tok) -> optimized "
                  f"{row['optimized']:.3f} ({row['prompt_tokens']} tok) after {row['generations']} generation(s); "
                  f"tokens {row['spend']}", flush=True)
    roles = sorted({role for row in rows for role in row["spend"]})
    per_role = {role: statistics.mean(row["spend"].get(role, 0) for row in rows) for role in roles}
    print(f"test accuracy over {len(rows)} seeds (first {args.test_limit} test examples): initial "
          f"{mean_sd([r['initial'] for r in rows])}, optimized {mean_sd([r['optimized'] for r in rows])}")
    print("mean tokens per role: " + ", ".join(f"{role} {value:,.0f}" for role, value in per_role.items()))
    total = sum(per_role.values())
    print(f"initial={statistics.mean(r['initial'] for r in rows):.3f} "
          f"optimized={statistics.mean(r['optimized'] for r in rows):.3f} "
          f"prompt_tokens={statistics.mean(r['prompt_tokens'] for r in rows):.0f} tokens={total:.0f}")


if __name__ == "__main__":
    main()
