"""Benchmarks that compare optimizers fairly: optimizers × tasks × seeds at one token budget.

``plan`` holds the grid and the shared settings, ``harness`` runs the cells (each in its own run
directory, resumable), ``report`` writes CSV, a markdown table and a plot; ``cli`` is
``promptopt bench``. Names are imported on first use, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports

__all__ = ["BenchPlan", "BenchResult", "BenchSettings", "Cell", "CellResult", "arun_benchmark", "run_benchmark",
           "write_report"]

_WHERE = {
    "BenchPlan": "promptopt.benchmark.plan",
    "BenchSettings": "promptopt.benchmark.plan",
    "Cell": "promptopt.benchmark.plan",
    "BenchResult": "promptopt.benchmark.harness",
    "CellResult": "promptopt.benchmark.harness",
    "arun_benchmark": "promptopt.benchmark.harness",
    "run_benchmark": "promptopt.benchmark.harness",
    "write_report": "promptopt.benchmark.report",
}

if TYPE_CHECKING:
    from promptopt.benchmark.harness import BenchResult, CellResult, arun_benchmark, run_benchmark
    from promptopt.benchmark.plan import BenchPlan, BenchSettings, Cell
    from promptopt.benchmark.report import write_report

__getattr__ = lazy_exports(__name__, _WHERE)
