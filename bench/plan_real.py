"""CaPo on a real model: the meta-plan team (full, and plan-only) and the CoELA-style baseline with
every agent on Qwen2.5-Coder-0.5B, next to the scripted greedy and claims teams, on the first
episodes of test24.

Each team is one ``promptopt plan run`` (a real subprocess, the command a user runs) into its own
run directory under ``--out``, sharing one response cache: rerunning skips finished episodes and
replays answered calls, so an interrupted benchmark continues where it stopped. Printed: per team
the transport rate with its 95% interval, the usable-plan rate (episodes whose first plan was read
from the designer's reply, not the safe default), parse fallbacks, LLM calls and tokens per
episode and wall time; then each CaPo variant against CoELA on the same episodes (paired
bootstrap of the per-episode difference); last, one summary line.

Every LLM team gets the same call budget per episode (``--max-llm-calls``): after it, plan steps
still run and other decisions take the safe default (wait). That is the comparison CaPo is about:
what a team achieves for a fixed number of model calls. Measured on 2 CPU cores with 12 calls per
episode: 5-10 minutes per episode (two at a time), and a transport rate of 0 (the plan's room
visits ran without calls, every grasp and put needed one): a real comparison needs a budget near
the ~190 decisions of an episode, hours on 2 cores, minutes on a served model.

    python bench/plan_real.py --out runs/plan-real
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from promptopt.stats import paired_bootstrap

#: (row name, extra ``plan run`` arguments); LLM teams get the model and the call budget.
TEAMS = (
    ("capo full", ("--agents", "capo", "--variant", "full")),
    ("capo plan-only", ("--agents", "capo", "--variant", "plan-only")),
    ("coela", ("--agents", "coela")),
    ("greedy (scripted)", ("--agents", "greedy")),
    ("claims (scripted)", ("--agents", "claims")),
)
LLM_AGENTS = ("capo", "coela")


def _promptopt() -> list[str]:
    return [sys.executable, "-m", "promptopt.cli"]


def run_team(name: str, extra: tuple[str, ...], args: argparse.Namespace) -> dict[str, Any]:
    """One team's ``plan run``; its summary row and per-episode records."""
    out = args.out / name.split(" (")[0].replace(" ", "-")
    command = [*_promptopt(), "plan", "run", "--suite", args.suite, "--episodes", str(args.episodes),
               "--seeds", args.seeds, "--out", str(out), "--json", *extra]
    if extra[1] in LLM_AGENTS:
        command += ["--model", args.model, "--max-llm-calls", str(args.max_llm_calls), "--rounds", str(args.rounds),
                    "--cache", str(args.out / "cache.sqlite3"), "--concurrency", str(args.concurrency)]
    if (out / "config.json").exists():
        command.append("--resume")
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name}: promptopt plan run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    [row] = summary["teams"].values()
    records = {p.stem: json.loads(p.read_text()) for p in sorted((out / "episodes").glob("*.json"))}
    return {"name": name, "row": row, "records": records, "wall_s": time.monotonic() - started, "out": str(out)}


def _fallbacks(row: dict[str, Any]) -> str:
    per = row["fallbacks"]
    if not per:
        return "0"
    top = ", ".join(f"{k} {v / row['episodes']:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:3])
    return f"{row['fallbacks_per_episode']:.1f} ({top})"


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| team | episodes | transport rate [95% CI] | usable plan | parse fallbacks/ep (top) | LLM calls/ep | "
             "tokens/ep | wall s (this session) |",
             "|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in results:
        row, rate = r["row"], r["row"]["transport_rate"]
        usable = "-" if row["usable_plan_rate"] is None else f"{row['usable_plan_rate']:.2f}"
        lines.append(f"| {r['name']} | {row['episodes']} | {rate['mean']:.3f} [{rate['low']:.3f}, {rate['high']:.3f}] | "
                     f"{usable} | {_fallbacks(row)} | {row['llm_calls']:.1f} | {row['tokens']:,.0f} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def paired(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(set(a["records"]) & set(b["records"]))
    x = [a["records"][k]["metrics"]["transport_rate"] for k in keys]
    y = [b["records"][k]["metrics"]["transport_rate"] for k in keys]
    diff = paired_bootstrap(x, y, n_resamples=10000, seed=0)
    return (f"{a['name']} − {b['name']}: {diff.mean_diff:+.3f} transport rate, 95% CI [{diff.low:+.3f}, {diff.high:+.3f}], "
            f"p={diff.p_value:.3f}, {len(keys)} paired episodes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local:qwen2.5-coder-0.5b", help="model spec of every LLM agent")
    parser.add_argument("--suite", default="test24")
    parser.add_argument("--episodes", type=int, default=6, help="the first N episodes of the suite")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--max-llm-calls", type=int, default=200,
                        help="LLM calls per episode, every LLM team (an episode has about 190 decisions)")
    parser.add_argument("--rounds", type=int, default=1, help="CaPo discussion rounds")
    parser.add_argument("--concurrency", type=int, default=2, help="episodes at a time (one local model serves them)")
    parser.add_argument("--out", type=Path, default=Path("runs/plan-real"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    results = []
    for name, extra in TEAMS:
        results.append(run_team(name, extra, args))
        print(f"{name}: done in {results[-1]['wall_s']:.0f} s", file=sys.stderr)
    print(f"\nCaPo on {args.suite} (first {args.episodes} episodes, seeds {args.seeds}), LLM agents {args.model}, "
          f"{args.max_llm_calls} LLM calls per episode, {args.rounds} discussion round(s)\n")
    print(table(results))
    by_name = {r["name"]: r for r in results}
    comparisons = [paired(by_name[n], by_name["coela"]) for n in ("capo full", "capo plan-only")]
    print("\n" + "\n".join(comparisons))
    (args.out / "results.json").write_text(json.dumps(
        {"settings": vars(args) | {"out": str(args.out)},
         "teams": {r["name"]: {**r["row"], "wall_s": r["wall_s"], "run_dir": r["out"]} for r in results},
         "paired": comparisons}, indent=2, sort_keys=True) + "\n")
    full, coela = by_name["capo full"]["row"], by_name["coela"]["row"]
    print(f"\nsummary: capo full {full['transport_rate']['mean']:.3f} vs coela {coela['transport_rate']['mean']:.3f} "
          f"transport rate, usable plans {full['usable_plan_rate']:.0%}, {time.monotonic() - started:.0f} s; "
          f"results {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
