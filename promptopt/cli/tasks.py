"""``promptopt tasks``: the tasks this installation knows."""

from __future__ import annotations

from typing import Any

from promptopt.cli.app import app, emit_json
from promptopt.cli.groups import command
from promptopt.cli.options import DataDir, Json


@app.command("tasks")
@command
def tasks_command(data_dir: DataDir = None, as_json: Json = False) -> None:
    """List the tasks: name, size, source and answer format."""
    from dataclasses import asdict

    from promptopt.tasks.registry import list_tasks

    rows = [asdict(info) for info in list_tasks(data_dir=data_dir)]
    if as_json:
        emit_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("task", "dev", "test", "source", "answer format", box=None)
    for row in rows:
        table.add_row(row["name"], _count(row.get("dev_size")), _count(row.get("test_size")), row["source"], row["answer_format"])
    Console().print(table)


def _count(value: Any) -> str:
    return "?" if value is None else str(value)
