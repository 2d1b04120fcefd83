"""Progress display for long waits: a rich bar on stderr, or nothing when output must stay quiet."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

ProgressCallback = Callable[[int, int], None]


@contextmanager
def progress_bar(description: str, *, enabled: bool | None = None) -> Iterator[ProgressCallback]:
    """Yields ``update(done, total)``. Disabled (a no-op) when stderr is not a terminal, unless
    ``enabled`` forces it; ``--json`` commands pass ``enabled=False``."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task_id = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        yield update
