"""The report of a ``promptopt bench`` output folder: the grid table, the per-cell results and
the plot, from the folder's own files (``results.json``, ``table.md``, ``plot.png``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptopt.errors import PromptoptError
from promptopt.report import html as h


def is_bench_dir(path: Path) -> bool:
    return (path / "results.json").is_file() and not (path / "config.json").is_file()


def _markdown_table(text: str) -> tuple[list[str], list[list[str]]]:
    """The first pipe table of a markdown file: header and rows (cells stripped)."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return [], []
    split = lambda line: [c.strip() for c in line.strip("|").split("|")]  # noqa: E731
    return split(lines[0]), [split(line) for line in lines[2:]]


def render_bench(path: Path) -> str:
    try:
        results: dict[str, Any] = json.loads((path / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromptoptError(f"{path / 'results.json'}: not readable JSON ({exc})") from None
    title = f"promptopt bench: {path.name}"
    parts = [f"<h1>{h.esc(title)}</h1><p class=\"muted\">{h.esc(path)}</p>"]
    table_md = path / "table.md"
    if table_md.is_file():
        text = table_md.read_text(encoding="utf-8")
        header, rows = _markdown_table(text)
        caption = next((line for line in text.splitlines() if line.strip() and not line.startswith("|")), "")
        parts.append(h.section("Grid", f"<p>{h.esc(caption)}</p>" + h.table(header, rows, ident="grid-table")))
    plot = path / "plot.png"
    if plot.is_file():
        parts.append(h.section("Plot", h.png_image(plot.read_bytes(), "test score vs tokens per optimizer")))
    cells = results.get("cells", [])
    if cells:
        keys = ("task", "optimizer", "seed", "test_score", "dev_score", "prompt_tokens", "tokens", "calls", "stop_reason")
        rows = [[cell.get(k, "") if not isinstance(cell.get(k), float) else f"{cell[k]:.3f}" for k in keys] for cell in cells]
        parts.append(h.section("Cells", h.table(keys, rows, ident="cells-table", numeric=(2, 3, 4, 5, 6, 7))))
    return h.page(title, "".join(parts))
