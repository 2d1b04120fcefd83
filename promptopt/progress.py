"""Progress display for long waits: a rich bar on stderr, or nothing when output must stay quiet.

Spend is shown with its retries: a run against a flaky endpoint sends more requests than it
asks for, and the user should see that while it happens, not only in the bill.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

if TYPE_CHECKING:
    from promptopt.llm.ledger import RoleUsage, UsageLedger

ProgressCallback = Callable[[int, int], None]


def usage_note(usage: "RoleUsage") -> str:
    """``1,234 tok/150 calls (50 retries, 12 retry tok)``; the parenthesis only when retried."""
    note = f"{usage.total_tokens:,} tok/{usage.requests} calls"
    return note + retry_note(usage, prefix=" ")


def retry_note(usage: "RoleUsage", prefix: str = "") -> str:
    """``(50 retries)`` (with their tokens when the server reported any), or "" with none."""
    if not usage.retries:
        return ""
    tokens = f", {usage.retry_tokens:,} retry tok" if usage.retry_tokens else ""
    return f"{prefix}({usage.retries} retr{'y' if usage.retries == 1 else 'ies'}{tokens})"


def request_note(usage: "RoleUsage") -> str:
    """``sent 120 · cached 30 · failed 0 · retried 2``: what a request bar counts."""
    return (f"sent {usage.asked:,} · cached {usage.cache_hits:,} · failed {usage.errors:,} · "
            f"retried {usage.retries:,}")


def spend_line(spend: Mapping[str, "RoleUsage"]) -> str:
    """Every role's :func:`usage_note`, by role name: the optimize status line's spend part."""
    return "  ".join(f"{role} {usage_note(usage)}" for role, usage in sorted(spend.items()))


@contextmanager
def progress_bar(
    description: str, *, enabled: bool | None = None, ledger: "UsageLedger | None" = None
) -> Iterator[ProgressCallback]:
    """Yields ``update(done, total)``. Disabled (a no-op) when stderr is not a terminal, unless
    ``enabled`` forces it; ``--json`` commands pass ``enabled=False``. With ``ledger``, the bar
    also shows the retries sent so far (all roles)."""
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
        TextColumn("{task.fields[retries]}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task_id = bar.add_task(description, total=None, retries="")

        def update(done: int, total: int) -> None:
            retries = retry_note(ledger.total()) if ledger is not None else ""
            bar.update(task_id, completed=done, total=total, retries=retries)

        yield update
