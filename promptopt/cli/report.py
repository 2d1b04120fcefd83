"""``promptopt report``: a run directory or bench folder as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promptopt.cli.app import app, emit_json
from promptopt.cli.groups import command
from promptopt.cli.options import Json


@app.command("report")
@command
def report_command(
    directory: Annotated[Path, typer.Argument(help="A run directory (optimize --run-dir) or a bench --out folder.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The HTML file to write (default: DIRECTORY/report.html).")] = None,
    as_json: Json = False,
) -> None:
    """Write one self-contained HTML report (no network needed to open it): settings, score and
    spend per generation, the best prompt's lineage, racing, the Pareto front, MPO's rubrics."""
    from promptopt.report import write_report

    path = write_report(directory, out)
    if as_json:
        emit_json({"report": str(path)})
    else:
        typer.echo(f"report: {path}")
