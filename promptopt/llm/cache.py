"""Persistent cache of successful chat responses, keyed by request fingerprint.

One SQLite file, shared safely by concurrent processes (WAL journal, busy timeout) so that parallel
runs reuse each other's paid-for answers. Every failure surfaces as :class:`CacheError` naming the
file and what to do: a response that silently failed to be cached would be paid for again.

Opening checks everything a run will need (layout, every page, the write lock), so a cache that
cannot keep answers stops a command before its first request rather than after the spend. A
file deleted or replaced while open is noticed on the next write and reopened (with a warning),
so that later answers still land in the file a ``--resume`` reads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import platformdirs

from promptopt._version import __version__
from promptopt.errors import CacheError
from promptopt.llm.records import ChatResponse

T = TypeVar("T")

SCHEMA_VERSION = 1
"""Bumped whenever the table layout changes; older promptopt refuses newer files."""

ENV_VAR = "PROMPTOPT_CACHE"

_CHUNK = 500  # keys per SELECT: well under SQLite's bound-parameter limit on every build

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses ("
    " key TEXT PRIMARY KEY, model TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS responses_model ON responses(model)",
)

_INSERT = (
    "INSERT OR REPLACE INTO responses (key, model, response, created) VALUES (?, ?, ?, ?)"
)

#: How long opening waits for another process's write lock before saying that it waits.
_QUIET_WAIT_S = 2.0

_CHECK_PROBLEMS = 3  # problems of PRAGMA quick_check quoted in the error (the first says enough)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """An explicit write transaction on an autocommit connection, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class CorruptCacheError(CacheError):
    """The cache file is damaged or not an SQLite database: the one failure that deleting the file
    (``promptopt cache clear``) repairs. Locked, unwritable, foreign or newer files raise plain
    :class:`CacheError`, since deleting those would throw away answers or someone else's data."""


def default_cache_path() -> Path:
    """``$PROMPTOPT_CACHE`` if set, else ``<user cache dir>/promptopt/responses.sqlite3``."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("promptopt")) / "responses.sqlite3"


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of the cache file plus this instance's hit/miss counts since it was opened."""

    path: Path
    entries: int
    size_bytes: int
    per_model: dict[str, int] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0


class ResponseCache:
    """The response cache in one SQLite file; usable from several threads and processes.

    Each instance owns one connection (in autocommit mode, so every ``put`` is committed at once)
    guarded by a lock, so worker threads and the async client can share it.

    Opening raises :class:`CacheError` unless the file is usable for a whole run: a promptopt
    layout, ``PRAGMA quick_check`` clean (a corrupt page behind a valid header otherwise shows
    only when a write reaches it, after the answer was paid for) and the write lock obtainable
    within ``busy_timeout_s`` (a process holding a write transaction would otherwise make every
    later ``put`` fail). ``quick_check`` rather than ``integrity_check``: both read every page,
    and the cross-check of index entries against rows that ``integrity_check`` adds costs over
    half as much again (about 30 ms against 50 ms on a 50 MB cache) on every command, for a
    cache that grows without bound. A damaged file raises :class:`CorruptCacheError`.

    Before each write the path's device and inode are compared with those of the file opened
    (one ``stat``, microseconds next to a commit). If the file was deleted or replaced, writing
    on would put answers into a file no later process can read, so a ``--resume`` would pay for
    them again: the connection is closed and the path reopened, creating a fresh cache if
    nothing is there (or checking the file that replaced it as on open), and a warning names the
    path and says that answers cached before are not in the new file. If the path cannot be
    reopened the write raises :class:`CacheError`, as any failed write does.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, busy_timeout_s: float = 30.0
    ) -> None:
        self.path: Path = Path(path).expanduser() if path is not None else default_cache_path()
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._unusable: str | None = None  # why writes fail after a failed reopen
        self._conn: sqlite3.Connection | None = self._open()
        self._identity: tuple[int, int] | None = self._file_identity()

    # -- opening -------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        """Connect and check the file now, so a bad file is reported before tokens are spent."""
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"Cannot create the directory {parent} for the response cache {self.path}: "
                f"{exc.strerror or exc}. Choose a writable location with {ENV_VAR}=FILE."
            ) from exc
        if self.path.is_dir():
            raise CacheError(
                f"The response cache path {self.path} is a directory; it must be a file path. "
                f"Point {ENV_VAR} (or the cache path option) at a file such as "
                f"{self.path / 'responses.sqlite3'}."
            )
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                check_same_thread=False,
                isolation_level=None,  # autocommit: we open transactions explicitly
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Read-only probes first (never writes to a foreign or corrupt file), then set up, then
        make sure the write lock can be taken: all before the caller sends a request."""
        try:
            version = self._check_layout(conn)
            self._check_pages(conn)
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc
        self._retrying_locked("initialise", lambda: self._set_up(conn, version))
        self._retrying_locked("write to", lambda: self._probe_write_lock(conn))

    def _check_pages(self, conn: sqlite3.Connection) -> None:
        """``PRAGMA quick_check``: every page of every table and index is well formed."""
        rows = conn.execute(f"PRAGMA quick_check({_CHECK_PROBLEMS})").fetchall()
        problems = [
            line.strip()
            for (text,) in rows
            for line in str(text).splitlines()
            if line.strip() and not line.startswith("***")
        ]
        if problems != ["ok"]:
            raise CorruptCacheError(
                f"The response cache {self.path} is corrupt (PRAGMA quick_check: "
                f"{'; '.join(problems[:_CHECK_PROBLEMS])}). Move it aside or delete it (or run: "
                f"promptopt cache clear --path {self.path}); a fresh cache will be created."
            )

    def _probe_write_lock(self, conn: sqlite3.Connection) -> None:
        """Take the write lock (waiting up to the busy timeout) and release it at once. A wait
        longer than :data:`_QUIET_WAIT_S` is announced: a silent 30 s pause looks like a hang."""
        full = int(self.busy_timeout_s * 1000)
        conn.execute(f"PRAGMA busy_timeout = {min(full, int(_QUIET_WAIT_S * 1000))}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or full <= _QUIET_WAIT_S * 1000:
                raise
            warnings.warn(
                f"The response cache {self.path} is locked by another process; waiting up to "
                f"{self.busy_timeout_s:g} s for it (or point PROMPTOPT_CACHE at another file).",
                stacklevel=5,
            )
            conn.execute(f"PRAGMA busy_timeout = {full}")
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {full}")
        conn.execute("ROLLBACK")

    def _file_identity(self) -> tuple[int, int] | None:
        """(device, inode) of the file now at ``self.path``; None if there is none."""
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_dev, info.st_ino)

    def _retrying_locked(self, action: str, work: Callable[[], T]) -> T:
        """Run ``work``, redoing it while SQLite says "locked", until the busy timeout passes.

        SQLite answers "locked" at once, without calling its busy handler, when a connection
        holding a read lock must upgrade it while another writes (two fresh processes creating
        one cache, or a write whose snapshot went stale). Each ``work`` here is idempotent.
        """
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise self._error(exc, action) from exc
                time.sleep(0.02)
            except sqlite3.Error as exc:
                raise self._error(exc, action) from exc

    def _set_up(self, conn: sqlite3.Connection, version: int) -> None:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if version == 0:
            with _transaction(conn):
                # Another process may have created the schema while we waited for the lock.
                if self._check_layout(conn) == 0:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _check_layout(self, conn: sqlite3.Connection) -> int:
        """Return the schema version after refusing newer or foreign files (reads only)."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CacheError(
                f"The response cache {self.path} has schema version {version}, written by a newer "
                f"promptopt; promptopt {__version__} reads schema version {SCHEMA_VERSION} only. "
                f"Upgrade promptopt (a release newer than {__version__}) or use another cache file "
                f"via {ENV_VAR}=FILE."
            )
        if version == 0 and tables:
            raise CacheError(
                f"{self.path} is an SQLite database that promptopt did not create (tables: "
                f"{', '.join(sorted(tables))}); refusing to write into it. Use another cache file "
                f"via {ENV_VAR}=FILE."
            )
        return version

    def _error(self, exc: sqlite3.Error, action: str) -> CacheError:
        """Turn an sqlite3 error into a message that names the file and the remedy."""
        text = str(exc)
        low = text.lower()
        if "not a database" in low or "malformed" in low or "encrypted" in low:
            return CorruptCacheError(
                f"The response cache {self.path} is corrupt or not an SQLite database ({text}). "
                f"Move it aside or delete it (or run: promptopt cache clear --path {self.path}); "
                f"a fresh cache will be created."
            )
        if "locked" in low or "busy" in low:
            return CacheError(
                f"The response cache {self.path} is locked: another process holds a lock on it "
                f"and did not release it within {self.busy_timeout_s:g} s, so promptopt could "
                f"not {action} it. Wait for that process or use another cache file via "
                f"{ENV_VAR}=FILE."
            )
        if "readonly" in low or "read-only" in low or "unable to open" in low:
            return CacheError(
                f"Cannot {action} the response cache {self.path}: the file or its directory is "
                f"not writable ({text}). Fix the permissions or use another cache file via "
                f"{ENV_VAR}=FILE."
            )
        if "full" in low or "i/o" in low:
            return CacheError(
                f"Cannot {action} the response cache {self.path}: {text}. Free disk space or use "
                f"another cache file via {ENV_VAR}=FILE."
            )
        return CacheError(f"Cannot {action} the response cache {self.path}: {text}.")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CacheError(self._unusable or f"The response cache {self.path} has been closed.")
        return self._conn

    def _writable_connection(self) -> sqlite3.Connection:
        """The connection to write with, reopened first if the file at the path has changed.

        Called with ``self._lock`` held.
        """
        conn = self._connection()
        if self._file_identity() == self._identity:
            return conn
        return self._reopen(conn)

    def _reopen(self, old: sqlite3.Connection) -> sqlite3.Connection:
        """Close the connection to a deleted or replaced file and open what is at the path now."""
        old.close()  # SQLite skips the checkpoint of a moved file: nothing at the path is touched
        self._conn = None
        deleted = not os.path.exists(self.path)
        if deleted:
            # Left over from the deleted file: a stale -wal or -shm would be read as the new
            # file's. (A replacement's siblings belong to it and are kept.)
            for sibling in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                try:
                    sibling.unlink()
                except OSError:
                    pass
        try:
            conn = self._open()
        except CacheError as exc:
            self._unusable = (
                f"The response cache {self.path} was {'deleted' if deleted else 'replaced'} while "
                f"in use and cannot be reopened, so later answers cannot be kept: {exc}"
            )
            raise CacheError(self._unusable) from exc
        self._conn = conn
        self._identity = self._file_identity()
        what = (
            "was deleted while in use; a new, empty cache was created there"
            if deleted
            else "was replaced by another file while in use; that file is used from now on"
        )
        warnings.warn(
            f"The response cache {self.path} {what}. Answers from now on are kept in it for "
            f"--resume; those cached before are not, and a --resume pays for them again.",
            stacklevel=4,
        )
        return conn

    # -- reading -------------------------------------------------------------------------------

    def get_many(self, keys: Sequence[str]) -> dict[str, ChatResponse]:
        """Cached responses for those keys that have one, already marked ``cached``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, ChatResponse] = {}
        with self._lock:
            conn = self._connection()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                try:
                    rows = conn.execute(
                        f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk
                    ).fetchall()
                except sqlite3.Error as exc:
                    raise self._error(exc, "read") from exc
                for key, blob in rows:
                    found[key] = self._decode(key, blob)
            self._hits += len(found)
            self._misses += len(wanted) - len(found)
        return found

    def get(self, key: str) -> ChatResponse | None:
        return self.get_many([key]).get(key)

    def _decode(self, key: str, blob: str) -> ChatResponse:
        try:
            return ChatResponse.from_json(blob).as_cached()
        except (ValueError, TypeError, KeyError) as exc:
            raise CacheError(
                f"The response cache {self.path} holds an unreadable entry for key {key} ({exc}). "
                f"Clear it (promptopt cache clear --path {self.path}) or delete the file."
            ) from exc

    # -- writing -------------------------------------------------------------------------------

    @staticmethod
    def _row(key: str, model: str, response: ChatResponse) -> tuple[str, str, str, float]:
        if response.error is not None:
            raise ValueError(f"only successful responses are cached; got error: {response.error}")
        return (key, model, response.to_json(), time.time())

    def put(self, key: str, model: str, response: ChatResponse) -> None:
        """Store one successful response, committed before returning."""
        row = self._row(key, model, response)
        with self._lock:
            conn = self._writable_connection()
            self._retrying_locked("write to", lambda: conn.execute(_INSERT, row))

    def put_many(self, items: Iterable[tuple[str, str, ChatResponse]]) -> None:
        """Store many successful responses in one transaction: all or nothing."""
        rows = [self._row(key, model, response) for key, model, response in items]
        if not rows:
            return
        with self._lock:
            conn = self._writable_connection()

            def write_all() -> None:
                with _transaction(conn):
                    conn.executemany(_INSERT, rows)

            self._retrying_locked("write to", write_all)

    def clear(self, model: str | None = None) -> int:
        """Delete one model's entries (or all, then shrink the file); returns rows deleted."""
        with self._lock:
            conn = self._connection()
            try:
                if model is None:
                    deleted = conn.execute("DELETE FROM responses").rowcount
                    conn.execute("VACUUM")
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                else:
                    deleted = conn.execute(
                        "DELETE FROM responses WHERE model = ?", (model,)
                    ).rowcount
            except sqlite3.Error as exc:
                raise self._error(exc, "clear") from exc
        return deleted

    # -- inspection and lifetime ---------------------------------------------------------------

    def stats(self) -> CacheStats:
        with self._lock:
            conn = self._connection()
            try:
                per_model = dict(
                    conn.execute(
                        "SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY model"
                    ).fetchall()
                )
            except sqlite3.Error as exc:
                raise self._error(exc, "read") from exc
            hits, misses = self._hits, self._misses
        size = 0
        for file in (self.path, Path(f"{self.path}-wal")):
            try:
                size += file.stat().st_size
            except FileNotFoundError:
                pass
        return CacheStats(
            path=self.path,
            entries=sum(per_model.values()),
            size_bytes=size,
            per_model=per_model,
            hits=hits,
            misses=misses,
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    @classmethod
    def reset_file(cls, path: str | os.PathLike[str]) -> list[Path]:
        """Delete a (possibly corrupt) cache file and its -wal/-shm siblings; returns those removed.

        Only for a file no process is using: the next :class:`ResponseCache` recreates it empty.
        """
        base = Path(path).expanduser()
        if base.is_dir():
            raise CacheError(f"{base} is a directory, not a response cache file; nothing removed.")
        removed: list[Path] = []
        for file in (base, Path(f"{base}-wal"), Path(f"{base}-shm")):
            try:
                file.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CacheError(
                    f"Cannot delete {file} while resetting the response cache {base}: "
                    f"{exc.strerror or exc}. Delete it by hand."
                ) from exc
            removed.append(file)
        return removed
