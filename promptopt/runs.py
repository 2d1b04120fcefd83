"""The run directory: config, append-only journal, artifacts, summary and progress plot.

Layout::

    config.json      the run's settings (pretty JSON, sorted keys)
    journal.jsonl    one JSON object per decision, appended and fsync'ed one by one
    paid.sqlite3     every request the run paid for, by session and journal position (spend
                     a killed session paid after its last spend note; see promptopt.paid_log)
    artifacts/       best.json, front/*.json
    summary.json     the final result in one file
    progress.png     score per generation and the final Pareto front

Resume is deterministic re-execution: the optimizer runs again from the start (the response cache
answers every LLM call it already paid for) and sends each event through :meth:`RunDir.record`,
which compares it with the journal instead of writing it. Once past the stored events it appends.
A re-derived event that differs means the run cannot be continued faithfully, and that is an error
rather than a silently forked journal. Information that differs between sessions by nature (spend)
goes through :meth:`RunDir.note`: always appended, never compared.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Collection, Mapping, Protocol, Sequence

from promptopt import jsonio, records
from promptopt.dirlock import DirectoryLock
from promptopt.errors import DiskError, PromptoptError, UsageError
from promptopt.redact import redact

CONFIG = "config.json"
#: The run directory's layout (config.json, the journal's events), recorded in config.json as
#: ``schema_version``; directories written before it was recorded carry none: absent is 1.
RUN_SCHEMA = 1
JOURNAL = "journal.jsonl"
ARTIFACTS = "artifacts"
SUMMARY = "summary.json"
PROGRESS = "progress.png"

#: Config keys (dotted paths; a key covers everything below it) that may change on resume.
RESUMABLE_KEYS: tuple[str, ...] = ("budget",)

_RESERVED = ("seq", "t", "event")
_ABSENT = object()  # a key missing on one side of a comparison


class TruncatedJournalWarning(UserWarning):
    """The journal's last line was cut short (the run was killed mid-write); it is ignored."""


class _Savable(Protocol):
    def save(self, path: str | Path) -> Path: ...


@dataclass(frozen=True)
class JournalContents:
    """The journal's complete events, and whether a partial last line was dropped."""

    events: tuple[dict[str, Any], ...]
    truncated: bool = False


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def _json_line(record: Mapping[str, Any]) -> str:
    try:
        return redact(json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False)) + "\n"
    except (TypeError, ValueError) as exc:
        raise PromptoptError(f"journal event '{record.get('event')}' cannot be written as JSON: {exc}") from None


def _fsync_dir(path: Path) -> None:
    # Makes a new or replaced file's name durable; not possible (or needed) on every platform.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through ``write(handle)`` into a temporary file, then rename, so readers
    never see half a file (text, JSON, plots). A disk error is a :class:`DiskError` naming the
    path; the old file is then untouched."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DiskError(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DiskError(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _append_whole_line(path: Path, line: bytes) -> None:
    """Append one journal line, or nothing: when the disk refuses part of it (full, size limit),
    the file is cut back to its old length before the :class:`DiskError`, so a resume after
    freeing space finds no torn line."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DiskError(path, exc) from None
    try:
        before = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, before)
            except OSError:
                pass  # the reader still drops a torn last line, with a warning
            raise DiskError(path, exc) from None
    finally:
        os.close(fd)


def check_output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """``path`` as a file to be written at the end of a command, checked before any work: a
    directory there, or a file where a parent directory should be, would otherwise fail only after
    the whole run was paid for."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{flag} {target} is a directory: name a file (e.g. {target / 'best.json'})")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {target}: {parent} is a file, not a directory")
    return target


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (secrets masked, see :mod:`promptopt.redact`) so that a reader sees the old
    file or the new one, never a part."""
    clean = redact(text)
    write_atomically(path, lambda handle: handle.write(clean.encode("utf-8")))


def _pretty(data: Mapping[str, Any], what: str) -> str:
    try:
        return redact(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)) + "\n"
    except (TypeError, ValueError) as exc:
        raise PromptoptError(f"{what} cannot be written as JSON: {exc}") from None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _short(value: Any, limit: int = 60) -> str:
    text = "(absent)" if value is _ABSENT else _canonical(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class JournalReplay:
    """Walks the stored decisions while a resumed run re-derives them, one :meth:`expect` at a time."""

    def __init__(self, events: Sequence[Mapping[str, Any]], *, flag: str = "--run-dir") -> None:
        self.flag = flag
        # Notes (spend, timings) are information, not decisions: they are not re-derived.
        self.events: tuple[Mapping[str, Any], ...] = tuple(e for e in events if e.get("note") is not True)
        self.position = 0

    @property
    def remaining(self) -> int:
        return len(self.events) - self.position

    @property
    def done(self) -> bool:
        return self.position >= len(self.events)

    @property
    def next_event(self) -> Mapping[str, Any] | None:
        """The next stored decision to re-derive (None when all are done)."""
        return None if self.done else self.events[self.position]

    def expect(self, event: str, **fields: Any) -> bool:
        """True if the next stored event equals this one; False once past the stored events.

        Values are compared as JSON text (ignoring ``seq`` and ``t``), so a tuple matches the
        list it was stored as. A difference raises :class:`PromptoptError`.
        """
        if self.done:
            return False
        stored = self.events[self.position]
        new = json.loads(_json_line({"event": event, **fields}))
        old = {k: v for k, v in stored.items() if k not in ("seq", "t")}
        for key in ["event"] + sorted((set(old) | set(new)) - {"event"}):
            before, now = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if before is _ABSENT or now is _ABSENT or _canonical(before) != _canonical(now):
                raise PromptoptError(
                    f"journal event seq {stored.get('seq', self.position)} ('{old.get('event')}') differs from "
                    f"the re-derived '{event}' in field '{key}': stored {_short(before)}, now {_short(now)}; "
                    "the run cannot be resumed faithfully (the configuration, the code or the cached responses "
                    f"changed). Start it again with a new {self.flag}."
                )
        self.position += 1
        return True


class RunDir:
    """One run's directory; see the module docstring for the layout and the resume protocol."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, flag: str = "--run-dir") -> None:
        #: The option that names this directory in the command at hand: messages tell the user to change it.
        self.flag = flag
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise PromptoptError(f"run directory {self.path} exists but is not a directory; choose another {flag}")
        if create:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DiskError(self.path, exc, "create the run directory") from None
        elif not self.path.is_dir():
            raise PromptoptError(f"run directory {self.path} does not exist; check {flag}")
        self.truncated = False
        self._lock = DirectoryLock(self.path, "run directory")
        self._next_seq: int | None = None
        self._replay: JournalReplay | None = None
        self._unterminated = False  # the last line has no newline: rewrite before appending

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL

    @property
    def artifacts_dir(self) -> Path:
        return self.path / ARTIFACTS

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY

    @property
    def progress_path(self) -> Path:
        return self.path / PROGRESS

    def acquire(self) -> "RunDir":
        """Become the run's one writer (see :mod:`promptopt.dirlock`): a second process on the
        same directory is refused at once, naming the holder. Every write takes it too."""
        self._lock.acquire()
        return self

    def release(self) -> None:
        self._lock.release()

    # -- config ------------------------------------------------------------------------------

    def write_config(self, config: Mapping[str, Any]) -> Path:
        self.acquire()
        stored = {**config, "schema_version": RUN_SCHEMA}
        write_text_atomically(self.config_path, _pretty(stored, "the run configuration"))
        return self.config_path

    def read_config(self) -> dict[str, Any]:
        """The settings as written (without ``schema_version``, checked before anything is read)."""
        try:
            text = self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PromptoptError(f"{self.config_path} does not exist: there is no run here to resume") from None
        data = records.parse_json(text, where=str(self.config_path), error=PromptoptError)
        if not isinstance(data, dict):
            raise PromptoptError(f"{self.config_path}: the run configuration must be a JSON object")
        records.check_schema(data, where=str(self.config_path), known=(RUN_SCHEMA,), default=RUN_SCHEMA,
                             error=PromptoptError)
        data.pop("schema_version", None)
        return data

    def check_resume(self, config: Mapping[str, Any], resumable: Collection[str] = RESUMABLE_KEYS) -> None:
        """Refuse to resume with settings that change what the run computes.

        Keys under ``resumable`` (such as the budget, which may be raised) may differ.
        """
        stored = _flatten(self.read_config())
        new = _flatten(json.loads(_pretty(config, "the run configuration")))
        differing = [
            key
            for key in sorted(set(stored) | set(new))
            if stored.get(key, _ABSENT) is _ABSENT
            or new.get(key, _ABSENT) is _ABSENT
            or _canonical(stored[key]) != _canonical(new[key])
        ]
        refused = [k for k in differing if not any(k == r or k.startswith(r + ".") for r in resumable)]
        if refused:
            shown = "; ".join(
                f"{k}: stored {_short(stored.get(k, _ABSENT))}, now {_short(new.get(k, _ABSENT))}" for k in refused[:5]
            )
            more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
            allowed = ", ".join(resumable) or "nothing"
            raise PromptoptError(
                f"cannot resume the run in {self.path}: its configuration differs in {', '.join(refused)} "
                f"({shown}{more}). Only {allowed} may change on resume; use a new {self.flag} to start a run "
                "with these settings."
            )

    def ensure_fresh(self) -> None:
        """Refuse to start a new run over a journal that already has events."""
        if self.journal_path.exists() and self.read_journal(warn=False).events:
            raise PromptoptError(
                f"{self.path} already holds a run ({self.journal_path} has events). Pass --resume to continue "
                f"it, or choose a new {self.flag}."
            )

    # -- journal -----------------------------------------------------------------------------

    def read_journal(self, *, warn: bool = True) -> JournalContents:
        """Parse the journal; a partial last line (a killed write) is dropped and flagged."""
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            self.truncated = self._unterminated = False
            return JournalContents(())
        lines = raw.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline, as every complete write does
        events = [self._parse(line, number) for number, line in enumerate(lines, start=1)]
        truncated = False
        if tail:
            try:
                events.append(self._parse(tail, len(lines) + 1))
            except PromptoptError:
                truncated = True
        self.truncated = truncated
        self._unterminated = bool(tail)
        if truncated and warn:
            warnings.warn(
                f"{self.journal_path}: ignoring a partial last line ({len(tail)} bytes) left by an "
                "interrupted run",
                TruncatedJournalWarning,
                stacklevel=3,
            )
        return JournalContents(tuple(events), truncated)

    def _parse(self, line: bytes, number: int) -> dict[str, Any]:
        where = f"{self.journal_path}:{number}"
        try:
            record = jsonio.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PromptoptError(f"{where}: not a valid journal line ({exc}); the journal is corrupt") from None
        if not isinstance(record, dict) or not isinstance(record.get("event"), str):
            raise PromptoptError(f"{where}: a journal line is a JSON object with an 'event'; the journal is corrupt")
        if record.get("seq") != number - 1:
            raise PromptoptError(
                f"{where}: expected seq {number - 1}, found {record.get('seq')!r}; the journal is corrupt"
            )
        return record

    def events(self) -> list[dict[str, Any]]:
        """All complete events, in order (see :meth:`read_journal`; sets :attr:`truncated`)."""
        return list(self.read_journal().events)

    def _open_journal(self) -> None:
        # On this instance's first journal write: the stored events become the replay, and a
        # partial last line is dropped so that new lines start on a line of their own.
        if self._next_seq is not None:
            return
        self.acquire()
        contents = self.read_journal()
        if self._unterminated:
            self.truncate_to(len(contents.events))
        self._next_seq = len(contents.events)
        self._replay = JournalReplay(contents.events, flag=self.flag)

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event and fsync it: a run killed right after loses nothing it wrote.

        This is the raw writer; optimizers use :meth:`record` (decisions) and :meth:`note`.
        """
        clash = [name for name in fields if name in _RESERVED]
        if clash:
            raise ValueError(f"journal field names {clash} are reserved")
        return self._write({"event": event, **fields})

    def _write(self, record: dict[str, Any]) -> dict[str, Any]:
        self._open_journal()
        assert self._next_seq is not None
        line = _json_line({"seq": self._next_seq, "t": time.time(), **record})
        created = not self.journal_path.exists()
        _append_whole_line(self.journal_path, line.encode("utf-8"))
        if created:
            _fsync_dir(self.path)
        self._next_seq += 1
        return json.loads(line)  # type: ignore[no-any-return]

    def truncate_to(self, n_events: int) -> None:
        """Keep only the first ``n_events`` complete events (atomically rewritten)."""
        if n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        events = self.read_journal(warn=False).events[:n_events]
        write_text_atomically(self.journal_path, "".join(_json_line(e) for e in events))
        self.truncated = self._unterminated = False
        if self._next_seq is not None:
            self._next_seq = len(events)
        if self._replay is not None:
            position = self._replay.position
            self._replay = JournalReplay(events, flag=self.flag)
            self._replay.position = min(position, len(self._replay.events))

    @property
    def replaying(self) -> bool:
        """True while stored decisions remain to be re-derived (a resumed run catching up)."""
        self._open_journal()
        return self._replay is not None and not self._replay.done

    @property
    def position(self) -> int:
        """The journal seq the run has reached: the next stored decision while replaying, else
        the seq the next event gets."""
        upcoming = self.replay_next
        assert self._next_seq is not None
        return int(upcoming["seq"]) if upcoming is not None else self._next_seq

    @property
    def replay_next(self) -> Mapping[str, Any] | None:
        """While replaying, the next stored decision (with its ``seq``); None otherwise."""
        return self._replay.next_event if self.replaying and self._replay is not None else None

    def truncate_before(self, event: str) -> bool:
        """Drop the first ``event`` and everything after it (a resumed run with a raised budget
        re-derives from there instead of stopping again). True if something was dropped."""
        events = self.events()
        for index, stored in enumerate(events):
            if stored.get("event") == event:
                self.truncate_to(index)
                return True
        return False

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """The optimizer's one way to journal a decision.

        The events stored when this run directory was opened are replayed first: each recorded
        event is checked against the next stored decision and nothing is written (the stored
        record is returned). After them, events are appended (and the new record returned).
        """
        self._open_journal()
        if self._replay is not None:
            position = self._replay.position
            if self._replay.expect(event, **fields):
                return dict(self._replay.events[position])
            self._replay = None
        return self.append(event, **fields)

    def note(self, event: str, **fields: Any) -> dict[str, Any]:
        """Journal information that is not a decision (spend, timings): always appended, never replayed.

        A resumed run's spend differs from the first session's, so notes are marked with
        ``"note": true`` and skipped when decisions are compared.
        """
        clash = [name for name in fields if name in _RESERVED + ("note",)]
        if clash:
            raise ValueError(f"journal field names {clash} are reserved")
        return self._write({"event": event, "note": True, **fields})

    # -- outputs -----------------------------------------------------------------------------

    def write_summary(self, summary: Mapping[str, Any]) -> Path:
        write_text_atomically(self.summary_path, _pretty(summary, "the run summary"))
        return self.summary_path

    def write_artifact(self, name: str, artifact: _Savable) -> Path:
        """Save ``artifact`` as ``artifacts/{name}.json``; ``name`` may hold a sub-folder ("front/01")."""
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") or "\\" in p for p in parts) or Path(name).is_absolute():
            raise PromptoptError(f"artifact name {name!r} must be a relative name like 'best' or 'front/01'")
        return artifact.save(self.artifacts_dir.joinpath(*parts[:-1], parts[-1] + ".json"))

    def plot_progress(
        self,
        path: str | os.PathLike[str] | None,
        generations: Sequence[tuple[int, float, float]],
        front: Sequence[tuple[int, float]],
    ) -> Path:
        """:func:`plot_progress` into ``path`` (None: this run's progress.png)."""
        return plot_progress(self.progress_path if path is None else path, generations, front)


def plot_progress(
    path: str | os.PathLike[str],
    generations: Sequence[tuple[int, float, float]],
    front: Sequence[tuple[int, float]],
) -> Path:
    """Write a PNG: best and mean dev score per generation, and the final front (score vs tokens).

    Uses matplotlib's object API with the Agg canvas, so it never touches pyplot's global state or
    the backend of a notebook that imports promptopt. Empty inputs give empty panels with a note.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = Path(path)
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)

    left.set_title("Dev score per generation")
    left.set_xlabel("generation")
    left.set_ylabel("dev score")
    rows = sorted(g for g in generations if all(math.isfinite(v) for v in g))
    if rows:
        xs = [g for g, _, _ in rows]
        left.plot(xs, [b for _, b, _ in rows], marker="o", label="best")
        left.plot(xs, [m for _, _, m in rows], marker=".", linestyle="--", label="mean")
        left.legend(loc="lower right")
    else:
        left.text(0.5, 0.5, "no generations yet", ha="center", va="center", transform=left.transAxes)

    right.set_title("Final front")
    right.set_xlabel("prompt tokens")
    right.set_ylabel("dev score")
    points = sorted(p for p in front if all(math.isfinite(v) for v in p))
    if points:
        xs = [t for t, _ in points]
        ys = [s for _, s in points]
        right.step(xs, ys, where="post", alpha=0.6)
        right.scatter(xs, ys, zorder=3)
    else:
        right.text(0.5, 0.5, "no front yet", ha="center", va="center", transform=right.transAxes)

    return write_atomically(target, lambda handle: fig.savefig(handle, format="png", dpi=100))
