"""Benchmarks that compare optimizers fairly: optimizers × tasks × seeds at one token budget.

``plan`` holds the grid and the shared settings, ``harness`` runs the cells (each in its own run
directory, resumable), ``report`` writes CSV, a markdown table and a plot; ``cli`` is
``promptopt bench``. Names are imported on first use, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.benchmark.harness": ("BenchResult", "CellResult", "arun_benchmark", "run_benchmark"),
    "promptopt.benchmark.plan": ("BenchPlan", "BenchSettings", "Cell"),
    "promptopt.benchmark.report": ("write_report",),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
