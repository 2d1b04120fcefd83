"""The brief_summary hack benchmark end to end with real models: fixed rubric vs evolving rubric.

Both runs use the same search (CAPO), seed, budget and models; the only difference is whether the
meta steps may change the rubric. For each run it prints the final prompt, its judge score under
the run's final rubric, its held-out evaluator score, and the number that decides: the reference
check (at most 20 words, names the place) of the final prompt on the test split, which no judge
touches. Also the rubric versions, every meta-step outcome, judge errors and spend per role.

Default: the embedded model (``local``) as target, judge and meta-judge. A ~135M model is not a
capable judge; pass ``--judge-model local:qwen2.5-coder-0.5b`` (``make models`` fetches it; that is
``make bench-mpo-real``) for a judge and meta-judge that follow the JSON formats, sized to finish
in about ten minutes on 2 cores. Pass ``--model openai:MODEL@URL`` (and ``--judge-model`` /
``--meta-judge-model``) to run the same benchmark on a served model. Rerunning with the same
``--out`` continues both runs from their journals and the shared cache.

    python bench/mpo_hack.py --judge-model local:qwen2.5-coder-0.5b --out runs/mpo-hack
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from promptopt.judging import brief_summary

from promptopt.budget import Budget
from promptopt.evaluation import evaluate
from promptopt.optimizers.rubric_step import RefineConfig
from promptopt.llm.cache import ResponseCache
from promptopt.llm.connection import connect
from promptopt.llm.records import Sampling
from promptopt.optimizers.capo import CAPOConfig
from promptopt.optimization import aoptimize
from promptopt.optimizers.mpo import MPOConfig

INITIAL = (
    "Summarize the passage in one short sentence that names the place.",
    "Describe the passage in full detail, covering everything it says.",
    "Write a brief summary of the passage.",
)


def _journal(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]


async def one_run(args: argparse.Namespace, evolve: bool, out: Path, cache: ResponseCache) -> dict[str, Any]:
    search = CAPOConfig(
        population=args.population,
        offspring=args.offspring,
        block_size=args.block,
        max_blocks=args.max_blocks,
        dev_size=args.dev,
        max_shots=0,
        sampling=Sampling(temperature=0.0, max_tokens=args.output_tokens),
        meta_sampling=Sampling(temperature=0.7, max_tokens=args.meta_tokens),
    )
    config = MPOConfig(
        search=search,
        evolve=evolve,
        meta_every=1,
        heldout_size=args.heldout,
        finalists=2,
        refine=RefineConfig(samples=args.samples, sampling=Sampling(temperature=0.7, max_tokens=args.meta_judge_tokens)),
        judge_sampling=Sampling(temperature=0.0, max_tokens=args.judge_tokens),
        audit_initial=args.audit,
    )
    run = out / ("evolving" if evolve else "fixed")
    started = time.monotonic()
    result = await aoptimize(
        brief_summary.load(),
        optimizer="mpo",
        model=args.model,
        meta_model=args.meta_model,
        judge_model=args.judge_model,
        meta_judge_model=args.meta_judge_model,
        budget=Budget.from_options(generations=args.generations),
        seed=args.seed,
        config=config,
        initial_prompts=INITIAL,
        run_dir=run,
        resume=(run / "config.json").exists(),
        cache=cache,
    )
    wall = time.monotonic() - started
    events = _journal(run)
    judge_errors = sum(sum(e.get("judge_errors", {}).values()) for e in events if e["event"] == "evaluation")
    judged = sum(len(e["scores"]) for e in events if e["event"] == "evaluation") * args.block
    guard_trips = sum(sum(e.get("parse_failures", {}).values()) for e in events if e["event"] == "evaluation")
    judge = result.spend.get("judge")
    outcomes = [s["outcome"] for s in result.meta_steps]
    return {
        "mode": "evolving" if evolve else "fixed",
        "best": result.best.instruction,
        "judge_score": result.best_score.value,
        "heldout_evaluator": result.heldout_evaluator,
        "heldout_score": result.heldout_scores.get(result.best_id),
        "rubric_versions": list(result.rubric_versions),
        "meta_steps": [(s["generation"], s["outcome"], s["detail"][:120]) for s in result.meta_steps],
        "judge_errors": judge_errors,
        "guard_trips": guard_trips,
        "judged_outputs": judged,
        # verdicts the judge model was asked for (guard trips never reach it)
        "judge_verdicts": judged - guard_trips,
        "judge_calls": 0 if judge is None else judge.requests + judge.cache_hits,
        "rubrics_accepted": outcomes.count("accepted"),
        "rubrics_refused": outcomes.count("refused"),
        "spend": {role: u.to_dict() for role, u in sorted(result.spend.items())},
        "wall_s": wall,
        "_prompt": result.best,
    }


async def reference_check(args: argparse.Namespace, rows: list[dict[str, Any]], cache: ResponseCache) -> None:
    task = brief_summary.load()
    client = connect(args.model, cache=cache, seed=args.seed)
    try:
        for row in rows:
            [result] = await evaluate(
                [row["_prompt"]], task.test[: args.test], task, client,
                sampling=Sampling(temperature=0.0, max_tokens=args.output_tokens),
            )
            row["test_reference_check"] = result.estimate.value
            row["test_n"] = result.n
            row["test_sample_output"] = result.records[0].raw_output[:160]
    finally:
        await client.aclose()


def _rate(row: dict[str, Any]) -> str:
    return f"{row['judge_errors'] / row['judge_verdicts']:.1%}" if row["judge_verdicts"] else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local", help="target model spec (default: the embedded model)")
    parser.add_argument("--meta-model", default=None, help="the search's meta-LLM (default: --model)")
    parser.add_argument("--judge-model", default=None, help="default: --model")
    parser.add_argument("--meta-judge-model", default=None, help="default: the meta-LLM")
    parser.add_argument("--generations", type=int, default=3, help="search generations (a meta step after each)")
    parser.add_argument("--population", type=int, default=3)
    parser.add_argument("--offspring", type=int, default=2)
    parser.add_argument("--block", type=int, default=3, help="examples per dev block")
    parser.add_argument("--max-blocks", type=int, default=1)
    parser.add_argument("--dev", type=int, default=12, help="dev examples (held-out ones included)")
    parser.add_argument("--heldout", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3, help="outputs per meta step")
    parser.add_argument("--test", type=int, default=8, help="test examples for the reference check")
    parser.add_argument("--output-tokens", type=int, default=48)
    parser.add_argument("--judge-tokens", type=int, default=160)
    parser.add_argument("--meta-tokens", type=int, default=96)
    parser.add_argument("--meta-judge-tokens", type=int, default=256)
    parser.add_argument("--audit", action="store_true", help="also score canaries/anchors under the initial rubric")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mpo_hack"))
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    cache = ResponseCache(args.out / "cache.sqlite3")
    started = time.monotonic()
    rows = [asyncio.run(one_run(args, evolve, args.out, cache)) for evolve in (False, True)]
    asyncio.run(reference_check(args, rows, cache))
    total = time.monotonic() - started

    meta = args.meta_model or args.model
    print(f"\nbrief_summary hack benchmark, models: target {args.model}, meta {meta}, judge {args.judge_model or args.model}, "
          f"meta-judge {args.meta_judge_model or meta}; seed {args.seed}; {total:.0f} s in all\n")
    header = ("mode", "final prompt (words)", "judge score", "held-out eval", "test ref. check", "rubric versions",
              "accepted / refused", "judge errors", "wall s")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        heldout = "n/a" if row["heldout_score"] is None else f"{row['heldout_score']:.3f}"
        print("| " + " | ".join([
            row["mode"], str(len(row["best"].split())), f"{row['judge_score']:.3f}", heldout,
            f"{row['test_reference_check']:.3f} (n={row['test_n']})", str(row["rubric_versions"]),
            f"{row['rubrics_accepted']} / {row['rubrics_refused']}",
            f"{row['judge_errors']}/{row['judge_verdicts']} verdicts ({_rate(row)}), {row['judge_calls']} calls",
            f"{row['wall_s']:.0f}",
        ]) + " |")
    for row in rows:
        print(f"\n[{row['mode']}] final prompt: {row['best']!r}")
        print(f"  sample test output: {row['test_sample_output']!r}")
        print(f"  held-out evaluator: {row['heldout_evaluator']}; guard trips: {row['guard_trips']}")
        for generation, outcome, detail in row["meta_steps"]:
            print(f"  meta step (generation {generation}): {outcome}: {detail}")
        for role, usage in row["spend"].items():
            print(f"  {role}: {usage['requests']} requests, {usage['total_tokens']} tokens, {usage['cache_hits']} cache hits")
    for row in rows:
        row.pop("_prompt")
    (args.out / "results.json").write_text(json.dumps({"total_s": total, "runs": rows}, indent=2) + "\n")
    print(f"\nresults: {args.out / 'results.json'}; run directories: {args.out / 'fixed'}, {args.out / 'evolving'}")
    fixed, evolving = rows
    print(f"summary: reference check fixed {fixed['test_reference_check']:.3f} vs evolving "
          f"{evolving['test_reference_check']:.3f}; judge errors {_rate(fixed)} / {_rate(evolving)}; "
          f"rubric versions accepted {evolving['rubrics_accepted']}, refused {evolving['rubrics_refused']}; {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
