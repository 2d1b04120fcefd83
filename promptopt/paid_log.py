"""Every request a run paid for, with the session that paid and the journal position it was at.

Spend notes are journaled once a generation. A session killed between two notes has paid for
requests that no note holds; the next session replays their answers from the cache for free, so
without this log that spend would vanish from the run's budget and summary. The log is a SQLite
file in the run directory (``paid.sqlite3``): one row per charge, committed as it happens. A
killed process loses nothing it committed (the operating system still writes it), so the file is
not fsync'ed: it is small beside the response cache and costs a run no disk waits.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path

from promptopt.errors import PromptoptError
from promptopt.llm.ledger import RoleUsage

__all__ = ["PAID_LOG", "PaidLog"]

PAID_LOG = "paid.sqlite3"
_SCHEMA = "CREATE TABLE IF NOT EXISTS paid (session TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, usage TEXT NOT NULL)"


class PaidLog:
    """One session's writer of ``paid.sqlite3``, and the reader of what earlier sessions paid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session = uuid.uuid4().hex
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=TRUNCATE")
            self._conn.execute("PRAGMA synchronous=OFF")
            self._conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise PromptoptError(f"cannot open the run's paid log {path}: {exc}. Free disk space or fix the "
                                 "folder's permissions; a damaged file can be deleted (the run then forgets "
                                 "only what a killed session paid after its last spend note)") from None

    def add(self, seq: int, role: str, usage: RoleUsage) -> None:
        """Log one charge made at journal position ``seq``."""
        row = (self.session, seq, role, json.dumps(usage.to_dict(), sort_keys=True))
        with self._lock:
            try:
                self._conn.execute("INSERT INTO paid VALUES (?, ?, ?, ?)", row)
            except sqlite3.Error as exc:
                raise PromptoptError(f"cannot write the run's paid log {self.path}: {exc}. Free disk space, "
                                     "then run again with --resume") from None

    def earlier(self, after_seq: int) -> list[tuple[int, str, RoleUsage]]:
        """(seq, role, usage) of what other sessions paid past journal position ``after_seq``."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT seq, role, usage FROM paid WHERE session != ? AND seq > ? ORDER BY rowid",
                    (self.session, after_seq)).fetchall()
            except sqlite3.Error as exc:
                raise PromptoptError(f"cannot read the run's paid log {self.path}: {exc}. A damaged file can be "
                                     "deleted (the run then forgets only what a killed session paid after its "
                                     "last spend note)") from None
        return [(int(seq), str(role), RoleUsage.from_dict(json.loads(usage), where=f"{self.path}: {role} at seq {seq}"))
                for seq, role, usage in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
