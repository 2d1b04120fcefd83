"""``promptopt report``: one self-contained HTML file for a run directory or a bench folder.

The file loads nothing from the network (no CDN, no fonts, no scripts) and works opened from
disk; it is built from the directory's own files and sends no request.
"""

from __future__ import annotations

from pathlib import Path

from promptopt.errors import PromptoptError, UsageError

__all__ = ["render_report", "write_report"]

REPORT_FILE = "report.html"


def render_report(path: str | Path) -> str:
    """The report page of ``path``: a run directory (``config.json`` + ``journal.jsonl``) or a
    ``promptopt bench`` output folder (``results.json``)."""
    from promptopt.report.bench_report import is_bench_dir, render_bench
    from promptopt.report.run_report import RunFiles, render_run

    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such directory (give a run directory or a bench --out folder)")
    if is_bench_dir(folder):
        return render_bench(folder)
    if (folder / "config.json").is_file():
        return render_run(RunFiles.read(folder))
    raise PromptoptError(f"{folder}: neither a run directory (config.json, journal.jsonl) nor a bench folder "
                         "(results.json)")


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``path`` to ``out`` (default: ``report.html`` inside it)."""
    from promptopt.runs import check_output_file, write_text_atomically

    target = Path(out) if out is not None else Path(path) / REPORT_FILE
    page = render_report(path)
    check_output_file(target, "--out")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(target, page)
    return target
