"""A benchmark's results as files: per-cell CSV, per-(task, optimizer) CSV and markdown table,
JSON, and a PNG of test score against tokens spent.

The table reports prompt length next to accuracy, always (spec §8): a longer prompt costs on
every call the application makes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from promptopt import records
from promptopt.benchmark.harness import BenchResult, CellResult
from promptopt.runs import write_atomically, write_text_atomically

CELLS_CSV = "cells.csv"
SUMMARY_CSV = "summary.csv"
TABLE_MD = "table.md"
PLOT_PNG = "plot.png"
RESULTS_JSON = "results.json"


#: A mean of counts: ``statistics.mean`` gives an int when it comes out whole, and it is written so.
Mean = int | float


@dataclass(frozen=True)
class SummaryRow(records.Record):
    """One (task, optimizer) over its seeds: means, and the test score's standard deviation."""

    task: str
    optimizer: str
    seeds: int
    test_mean: float
    test_sd: float
    dev_mean: float
    prompt_tokens: Mean
    tokens: Mean
    tokens_by_role: Mapping[str, Mean]
    calls: Mean
    wall_s: float
    stop_reasons: Mapping[str, int]
    #: Fewest and most new prompts scored in one seed's search (0 for ``initial``).
    new_prompts_min: int = 0
    new_prompts_max: int = 0
    #: Valid share of all meta proposals over the seeds (None when none were asked).
    proposals_valid_rate: float | None = None


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(cells: Sequence[CellResult]) -> list[SummaryRow]:
    """One row per (task, optimizer), in the order the cells first name them."""
    groups: dict[tuple[str, str], list[CellResult]] = {}
    for cell in cells:
        groups.setdefault((cell.task, cell.optimizer), []).append(cell)
    rows = []
    for (task, optimizer), group in groups.items():
        roles = sorted({role for c in group for role in c.tokens_by_role})
        rows.append(
            SummaryRow(
                task=task,
                optimizer=optimizer,
                seeds=len(group),
                test_mean=statistics.mean(c.test_score for c in group),
                test_sd=_sd([c.test_score for c in group]),
                dev_mean=statistics.mean(c.dev_score for c in group),
                prompt_tokens=statistics.mean(c.prompt_tokens for c in group),
                tokens=statistics.mean(c.tokens for c in group),
                tokens_by_role={r: statistics.mean(c.tokens_by_role.get(r, 0) for c in group) for r in roles},
                calls=statistics.mean(c.calls for c in group),
                wall_s=statistics.mean(c.wall_s for c in group),
                stop_reasons=dict(Counter(c.stop_reason for c in group)),
                new_prompts_min=min(c.new_prompts for c in group),
                new_prompts_max=max(c.new_prompts for c in group),
                proposals_valid_rate=_share(sum(c.proposals_valid for c in group), sum(c.proposals_asked for c in group)),
            )
        )
    return rows


def _roles(cells: Sequence[CellResult]) -> list[str]:
    return sorted({role for c in cells for role in c.tokens_by_role})


def cells_csv(cells: Sequence[CellResult]) -> str:
    """One row per cell; one tokens_ROLE column per role any cell spent on."""
    roles = _roles(cells)
    columns = ["task", "optimizer", "seed", "test_score", "test_low", "test_high", "test_n", "dev_score", "dev_n",
               "prompt_tokens", "few_shots", "tokens", *[f"tokens_{r}" for r in roles], "calls", "wall_s",
               "stop_reason", "generations", "test_tokens", "new_prompts", "proposals_asked", "proposals_valid",
               "instruction", "run_dir"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for cell in cells:
        data = cell.to_dict()
        data.update({f"tokens_{r}": cell.tokens_by_role.get(r, 0) for r in roles})
        writer.writerow([data[c] for c in columns])
    return buffer.getvalue()


def summary_csv(rows: Sequence[SummaryRow]) -> str:
    roles = sorted({r for row in rows for r in row.tokens_by_role})
    columns = ["task", "optimizer", "seeds", "test_mean", "test_sd", "dev_mean", "prompt_tokens", "tokens",
               *[f"tokens_{r}" for r in roles], "calls", "wall_s", "stop_reasons", "new_prompts_min", "new_prompts_max",
               "proposals_valid_rate"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        data = row.to_dict()
        data.update({f"tokens_{r}": round(row.tokens_by_role.get(r, 0), 1) for r in roles})
        data["stop_reasons"] = "; ".join(f"{reason} x{n}" for reason, n in sorted(row.stop_reasons.items()))
        for key in ("test_mean", "test_sd", "dev_mean"):
            data[key] = round(data[key], 4)
        if row.proposals_valid_rate is not None:
            data["proposals_valid_rate"] = round(row.proposals_valid_rate, 4)
        for key in ("prompt_tokens", "tokens", "calls", "wall_s"):
            data[key] = round(data[key], 1)
        writer.writerow([data[c] for c in columns])
    return buffer.getvalue()


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def markdown_table(rows: Sequence[SummaryRow], *, header: Mapping[str, Any] | None = None) -> str:
    """The optimizer table: mean ± sd of the test score over seeds, and means of the rest."""
    lines = []
    if header:
        lines.append(" · ".join(f"{k}: {v}" for k, v in header.items()))
        lines.append("")
    lines.append("| task | optimizer | seeds | test score (mean ± sd) | dev score | prompt tokens | "
                 "tokens spent (by role) | LLM calls | new prompts scored (min–max) | valid proposals | "
                 "search wall time (s) |")
    lines.append("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for row in rows:
        roles = " · ".join(f"{role} {value:,.0f}" for role, value in row.tokens_by_role.items())
        lines.append(
            f"| {row.task} | {row.optimizer} | {row.seeds} | {row.test_mean:.3f} ± {row.test_sd:.3f} | "
            f"{row.dev_mean:.3f} | {row.prompt_tokens:,.0f} | {row.tokens:,.0f} ({roles}) | {row.calls:,.0f} | "
            f"{row.new_prompts_min}–{row.new_prompts_max} | {_percent(row.proposals_valid_rate)} | {row.wall_s:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def summary_line(rows: Sequence[SummaryRow]) -> str:
    """The bench in one line: per task the best optimizer by mean test score against ``initial``,
    and the fewest new prompts any searching optimizer scored in one cell (a search that scored
    none only re-measured its initial prompts)."""
    tasks: dict[str, list[SummaryRow]] = {}
    for row in rows:
        tasks.setdefault(row.task, []).append(row)
    parts = []
    for task, group in tasks.items():
        best = max(group, key=lambda r: r.test_mean)
        initial = next((r for r in group if r.optimizer == "initial"), None)
        versus = f" (initial {initial.test_mean:.3f})" if initial is not None and initial is not best else ""
        parts.append(f"{task} best {best.optimizer} {best.test_mean:.3f}{versus}")
    searching = [r for r in rows if r.optimizer != "initial"]
    if searching:
        fewest = min(searching, key=lambda r: r.new_prompts_min)
        parts.append(f"fewest new prompts in a cell: {fewest.new_prompts_min} ({fewest.optimizer} on {fewest.task})")
    cells = sum(r.seeds for r in rows)
    return f"summary: {cells} cells; " + "; ".join(parts)


def plot(cells: Sequence[CellResult], path: str | os.PathLike[str]) -> Path:
    """Test score against tokens spent: one panel per task, one colour per optimizer, a point per
    seed and the optimizer's mean with ± sd bars (matplotlib's object API on the Agg canvas, as
    :func:`promptopt.runs.plot_progress`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(c.task for c in cells)) or ["(no cells)"]
    optimizers = list(dict.fromkeys(c.optimizer for c in cells))
    fig = Figure(figsize=(4.5 * len(tasks), 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    colours = {name: f"C{i % 10}" for i, name in enumerate(optimizers)}
    for ax, task in zip(axes, tasks):
        ax.set_title(task)
        ax.set_xlabel("tokens spent (all roles)")
        ax.set_ylabel("test score")
        for name in optimizers:
            group = [c for c in cells if c.task == task and c.optimizer == name]
            points = [(c.tokens, c.test_score) for c in group if math.isfinite(c.test_score)]
            if not points:
                continue
            xs, ys = zip(*points)
            ax.scatter(xs, ys, color=colours[name], alpha=0.45, s=18)
            ax.errorbar(statistics.mean(xs), statistics.mean(ys), yerr=_sd(list(ys)), xerr=_sd(list(xs)),
                        color=colours[name], marker="o", markersize=7, capsize=3, label=name)
        ax.set_ylim(-0.03, 1.03)  # scores are in [0, 1]; a shared scale keeps panels comparable
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize="small")
        else:
            ax.text(0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes)
    return write_atomically(Path(path), lambda handle: fig.savefig(handle, format="png", dpi=100))


def header_of(result: BenchResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "model": plan.model if not plan.meta_model or plan.meta_model == plan.model else f"{plan.model} (meta {plan.meta_model})",
        "budget": f"{plan.budget_tokens:,} tokens per cell",
        "test examples": plan.settings.test_limit or "all",
        "seeds": ", ".join(map(str, plan.seeds)),
    }


def results_json(result: BenchResult, rows: Sequence[SummaryRow]) -> dict[str, Any]:
    return {
        "out": str(result.out),
        "plan": {"optimizers": list(result.plan.optimizers), "tasks": list(result.plan.tasks),
                 "seeds": list(result.plan.seeds), "budget_tokens": result.plan.budget_tokens,
                 "model": result.plan.model, "settings": result.plan.settings.to_dict()},
        "summary": [row.to_dict() for row in rows],
        "cells": [cell.to_dict() for cell in result.cells],
        "reused": list(result.reused),
        "stale": list(result.stale),
    }


def write_report(result: BenchResult) -> dict[str, Path]:
    """Write cells.csv, summary.csv, table.md, results.json and plot.png into the output dir."""
    out = result.out
    rows = summarize(result.cells)
    files = {
        "cells_csv": out / CELLS_CSV,
        "summary_csv": out / SUMMARY_CSV,
        "table": out / TABLE_MD,
        "json": out / RESULTS_JSON,
        "plot": out / PLOT_PNG,
    }
    write_text_atomically(files["cells_csv"], cells_csv(result.cells))
    write_text_atomically(files["summary_csv"], summary_csv(rows))
    write_text_atomically(files["table"], markdown_table(rows, header=header_of(result)))
    write_text_atomically(files["json"], json.dumps(results_json(result, rows), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    plot(result.cells, files["plot"])
    return files
