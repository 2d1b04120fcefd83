"""Where a grid stands, read from its cells' folders: what a driver can show while worker
processes or Ray tasks run the cells, without hearing from them.

A cell is done once its ``cell.json`` exists; running while its ``timing.json`` heartbeat is fresh
(a searching cell rewrites it every few seconds); failed when the heartbeat went stale before
its search ended (its worker died: it waits for a retry, or for ``--resume``); resumed when it is
on its second session or later. Spend so far is the finished cells' spend plus each unfinished
cell's last spend note (written once a generation; looked for in the journal's last 64 KB only,
so a display-only figure that can lag behind a generation with long evaluation events).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from promptopt.benchmark.harness import CELL_FILE, TIMING_FILE, cell_dir, timing_sessions
from promptopt.benchmark.plan import Cell
from promptopt.errors import PromptoptError
from promptopt.llm.ledger import RoleUsage

__all__ = ["GridStatus", "grid_status"]

#: A heartbeat older than this many heartbeats means the cell's session is not running.
_STALE_BEATS = 3
#: The journal tail read for the last spend note (notes are short; journals can be long).
_TAIL_BYTES = 65536


@dataclass(frozen=True)
class GridStatus:
    cells: int
    done: int
    running: int
    failed: int
    resumed: int
    tokens: int
    requests: int

    def line(self) -> str:
        """``3/6 cells done · 2 running · 0 failed · 1 resumed · 12,345 tokens, 210 requests spent``."""
        return (f"{self.done}/{self.cells} cells done · {self.running} running · {self.failed} failed · "
                f"{self.resumed} resumed · "
                f"{self.tokens:,} tokens, {self.requests:,} requests spent")


def _last_spend(journal: Path) -> tuple[int, int]:
    """(tokens, requests) of the journal's last spend note; (0, 0) before the first."""
    try:
        with journal.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - _TAIL_BYTES))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return 0, 0
    for line in reversed(lines):
        if '"spend"' not in line:
            continue
        try:
            event = json.loads(line)
            if event.get("event") != "spend" or event.get("note") is not True:
                continue
            total = RoleUsage.sum(RoleUsage.from_dict(u) for u in event.get("usage", {}).values())
        except (ValueError, PromptoptError):  # a line cut by the tail or by a killed write
            continue
        return total.total_tokens, total.requests
    return 0, 0


def _sessions(timing: Path) -> list[float]:
    try:
        return timing_sessions(timing)
    except (OSError, ValueError, KeyError, TypeError):  # mid-write, or not ours: no sessions yet
        return []


def grid_status(out: Path, cells: Sequence[Cell], heartbeat_s: float) -> GridStatus:
    """The grid under ``out`` now (cells whose files are mid-write count as not yet there)."""
    now = time.time()
    done = running = failed = resumed = tokens = requests = 0
    for cell in cells:
        folder = cell_dir(out, cell)
        timing = folder / TIMING_FILE
        try:
            stored = json.loads((folder / CELL_FILE).read_text(encoding="utf-8"))["result"]
        except (OSError, ValueError, KeyError, TypeError):
            stored = None
        if isinstance(stored, dict):
            done += 1
            tokens += int(stored.get("tokens", 0))
            requests += int(stored.get("calls", 0))
            continue
        try:
            fresh = now - timing.stat().st_mtime < _STALE_BEATS * heartbeat_s
        except OSError:  # not started
            continue
        searched = (folder / "run" / "summary.json").exists()  # waiting for the driver to finish it
        running += fresh and not searched
        failed += not fresh and not searched
        resumed += len(_sessions(timing)) >= 2
        spent = _last_spend(folder / "run" / "journal.jsonl")
        tokens += spent[0]
        requests += spent[1]
    return GridStatus(len(cells), done, running, failed, resumed, tokens, requests)
