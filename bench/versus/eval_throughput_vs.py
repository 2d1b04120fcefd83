"""Evaluation throughput side by side: one prompt × 500 examples through promptolution's API LLM,
DSPy's ``Evaluate`` (threads) and ours, against the test server at 64 concurrent sequences.

The test server (``python -m promptopt.testing serve``) runs in its own process with ``--max-seqs``
sequences and a fixed latency per request (as bench/eval_throughput.py), so the ideal wall time is
examples / max_seqs × latency and the rest is client overhead or idle slots. Each client gets the
same in-flight limit (``--concurrency``, default = max_seqs): promptolution's
``APILLM(max_concurrent_calls=...)`` through ``MarkerBasedPredictor.predict``, DSPy's
``Evaluate(num_threads=...)`` over a ``Predict`` program (response cache off), and ours,
``promptopt.evaluation.evaluate`` through ``connect()`` with ``Limits(max_concurrency=...)`` and a
fresh response cache (what a user runs). Each side warms up on other examples first; then the
server's counters are reset and the 500 examples timed. The server answers every request with one
constant text that every side can parse (DSPy's field markers around a <final_answer> tag), so no
side retries or re-asks because of the format.

Prints per side (median of ``--repeats`` runs, order rotated): wall time, requests/s, the
server's floor (rounds × latency) / wall, requests the server saw, peak sequences in service,
when requests arrived (ramp of the first wave, span to the last), and the wall-time ratios
theirs / ours (above 1: we are faster). Run (about two minutes)::

    bash bench/versus/setup.sh   # once
    timeout 600 .venv/bin/python bench/versus/eval_throughput_vs.py [--examples 500] [--max-seqs 64]
        [--latency 1.0] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from eval_throughput import build_task
from eval_throughput import run as run_ours
from servers import run_runner
from throughput import server_stats, start_server

PROMPT = "Classify the sentiment of the review. Answer in <final_answer></final_answer> tags."
#: Parseable by all three: DSPy's ChatAdapter field markers around our and promptolution's tag.
REPLY = "[[ ## answer ## ]]\n<final_answer>positive</final_answer>\n\n[[ ## completed ## ]]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--max-seqs", type=int, default=64)
    parser.add_argument("--latency", type=float, default=1.0, help="fixed seconds per request")
    parser.add_argument("--concurrency", type=int, default=None, help="in-flight limit per client (default max-seqs)")
    parser.add_argument("--sides", nargs="+", default=["ours", "promptolution", "dspy"],
                        choices=("ours", "promptolution", "dspy"))
    parser.add_argument("--repeats", type=int, default=3, help="runs per side (order rotated); medians shown")
    args = parser.parse_args()
    concurrency = args.concurrency or args.max_seqs
    task, warm = build_task(args.examples, tag="bench"), build_task(args.max_seqs, tag="warm")
    inputs = [task.render_input(e) for e in task.test]
    labels = [e.target for e in task.test]
    warm_inputs = [warm.render_input(e) for e in warm.test]
    proc, base_url = start_server(args.max_seqs, args.latency, policy="constant", text=REPLY)
    root = base_url.rsplit("/v1", 1)[0]
    common = {"mode": "throughput", "base_url": base_url, "model": "test-model", "prompt": PROMPT,
              "inputs": inputs, "labels": labels, "warm_inputs": warm_inputs,
              "stats_reset_url": f"{root}/stats/reset",
              "sampling": {"temperature": 0.0, "top_p": 1.0, "max_tokens": 32}}
    samples: dict[str, list[dict]] = {side: [] for side in args.sides}
    try:
        for repeat in range(args.repeats):
            shift = repeat % len(args.sides)  # rotate the order: no side always runs first
            for side in args.sides[shift:] + args.sides[:shift]:
                row = run_side(side, args, base_url, common, concurrency)
                row.update(arrival_profile(server_stats(base_url), args.max_seqs))
                samples[side].append(row)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    rounds = math.ceil(args.examples / args.max_seqs)
    floor = rounds * args.latency
    print(f"server: {args.max_seqs} sequences x {args.latency:g}s fixed latency; {args.examples} examples "
          f"({rounds} rounds: floor {floor:.2f}s); {concurrency} in flight per client; median of {args.repeats} runs")
    print(f"{'side':<14} {'wall s':>7} {'runs':>20} {'req/s':>6} {'floor/wall':>10} {'cpu s':>6} {'requests':>8} "
          f"{'peak':>5} {'ramp s':>7} {'span s':>7} {'outside s':>9}")
    rows = {}
    for side, runs in samples.items():
        r = {key: statistics.median(run[key] for run in runs) for key in ("wall_s", "cpu_s", "ramp_s", "span_s")}
        r["requests"] = [run["requests"] for run in runs]
        r["peak"] = max(run["peak"] for run in runs)
        rows[side] = r
        outside = r["wall_s"] - r["span_s"] - args.latency
        each = " ".join(f"{run['wall_s']:.2f}" for run in runs)
        print(f"{side:<14} {r['wall_s']:>7.2f} {each:>20} "
              f"{args.examples / r['wall_s']:>6.1f} {floor / r['wall_s']:>10.3f} {r['cpu_s']:>6.2f} "
              f"{max(r['requests'])!s:>8} {r['peak']!s:>5} {r['ramp_s']:>7.3f} {r['span_s']:>7.3f} {outside:>9.3f}")
    print(f"ramp = first to {args.max_seqs}th arrival at the server; span = first to last arrival (floor "
          f"{(rounds - 1) * args.latency:.0f}s); outside = wall - span - latency (start-up before the first "
          "request + handling after the last reply)")
    if "ours" in rows:
        ours = rows["ours"]["wall_s"]
        ratios = " ".join(f"{side}/ours={r['wall_s'] / ours:.3f}" for side, r in rows.items() if side != "ours")
        print(f"wall-time ratios (theirs / ours; above 1 = we are faster): {ratios}")


def run_side(side: str, args: argparse.Namespace, base_url: str, common: dict, concurrency: int) -> dict:
    if side == "ours":
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, ok, _ = asyncio.run(
                run_ours(base_url, args.examples, args.max_seqs, concurrency, Path(tmp) / "c.sqlite3"))
        return {"wall_s": wall, "cpu_s": cpu, "answered": ok}
    if side == "promptolution":
        return run_runner("promptolution", "run_promptolution.py",
                          {**common, "classes": ["negative", "positive"], "max_concurrent_calls": concurrency,
                           "seed": None}, timeout=600)
    return run_runner("dspy", "run_dspy.py", {**common, "threads": concurrency}, timeout=600)


def arrival_profile(stats: dict, max_seqs: int) -> dict:
    """When requests reached the server: how fast the first wave filled the sequences, and how
    long from the first to the last arrival (client lag between a reply and the next request)."""
    arrivals = sorted(t for times in stats.get("arrivals_per_key", {}).values() for t in times)
    if not arrivals:
        return {"requests": 0, "peak": 0, "ramp_s": float("nan"), "span_s": float("nan")}
    wave = arrivals[min(max_seqs, len(arrivals)) - 1]
    return {"requests": stats.get("completions_ok"), "peak": stats.get("max_in_service"),
            "ramp_s": wave - arrivals[0], "span_s": arrivals[-1] - arrivals[0]}


if __name__ == "__main__":
    main()
