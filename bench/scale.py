"""A benchmark grid's wall time serially, in worker processes and on a local Ray instance.

The cells wait on a loopback OpenAI-compatible server with a fixed latency per request (its own
process, 64 sequences at a time), so this machine's cores are not what limits them: the grid is
6 cells (demo_sentiment x capo, opro, initial x 2 seeds). Each executor runs the same grid into
its own folder through ``promptopt bench`` (a real subprocess); the tables must come out equal.
Ray's start-up overhead (``ray.init`` to a task's first result, then shutdown) is measured on
its own. The last line is machine-readable:

    serial_s=... processes_s=... ray_s=... speedup_processes=... speedup_ray=... ray_startup_s=... same_tables=yes

Run: python bench/scale.py [--latency 0.5] [--processes 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from throughput import start_server  # noqa: E402

REPLY = ("<final_answer>positive</final_answer> <prompt>Classify the sentiment of the review as positive or "
         "negative; answer in <final_answer></final_answer> tags.</prompt>")
GRID = ["bench", "--tasks", "demo_sentiment", "--optimizers", "capo,opro,initial", "--seeds", "1,2",
        "--population", "4", "--offspring", "4", "--dev-size", "16", "--block-size", "4", "--max-tokens", "16",
        "--budget-tokens", "20000", "--force", "--json"]


def run_grid(base_url: str, executor: str, out: Path, env: dict[str, str]) -> float:
    command = [sys.executable, "-m", "promptopt.cli", *GRID, "--model", f"openai:test-model@{base_url}",
               "--executor", executor, "--out", str(out)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"--executor {executor} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return wall


def table(out: Path) -> list[str]:
    """table.md without its wall-time column."""
    return [line.rsplit("|", 2)[0] for line in (out / "table.md").read_text().splitlines()]


def ray_startup() -> float:
    """Seconds from ``ray.init`` (a local instance) to a trivial task's result, then shutdown."""
    code = ("import time, logging; t = time.monotonic(); import ray; "
            "ray.init(log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR); "
            "ray.get(ray.remote(lambda: 1).remote()); ray.shutdown(); print(time.monotonic() - t)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ray start-up failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.5, help="server seconds per request")
    parser.add_argument("--processes", type=int, default=6, help="worker processes (cells at a time)")
    args = parser.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SystemExit("bench/scale.py needs Ray: pip install 'promptopt[ray]'") from None

    proc, base_url = start_server(64, args.latency, policy="constant", text=REPLY)
    walls: dict[str, float] = {}
    tables: dict[str, list[str]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
            env = {**os.environ, "PROMPTOPT_CACHE": str(Path(tmp) / "unused.sqlite3")}
            for executor in ("serial", f"processes:{args.processes}", "ray"):
                out = Path(tmp) / executor.replace(":", "-")
                walls[executor] = run_grid(base_url, executor, out, env)
                tables[executor] = table(out)
                print(f"{executor:>14}: {walls[executor]:6.1f} s", flush=True)
    finally:
        proc.kill()
    startup = ray_startup()
    same = all(t == tables["serial"] for t in tables.values())
    serial, processes, on_ray = walls["serial"], walls[f"processes:{args.processes}"], walls["ray"]
    print(json.dumps({"cores": os.cpu_count(), "latency_s": args.latency, "cells": 6}))
    print(f"serial_s={serial:.1f} processes_s={processes:.1f} ray_s={on_ray:.1f} "
          f"speedup_processes={serial / processes:.2f} speedup_ray={serial / on_ray:.2f} "
          f"ray_startup_s={startup:.1f} same_tables={'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
