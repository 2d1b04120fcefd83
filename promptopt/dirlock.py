"""One writer per directory: an OS-level lock on a file inside it.

Two processes appending to one run journal interleave their ``seq`` numbers and leave a journal
that no resume can read. The lock is ``flock`` on ``<dir>/.lock``: the kernel releases it when
the holding process exits in any way (SIGKILL included), so a stale lock file never blocks a
later run. The file holds the holder's pid, which the refusal names.
"""

from __future__ import annotations

import os
from pathlib import Path

from promptopt.errors import PromptoptError

LOCK_NAME = ".lock"


class DirectoryBusy(PromptoptError):
    """Another process holds the directory's lock."""


class DirectoryLock:
    """An exclusive, non-blocking lock on one directory, held until :meth:`release` or exit."""

    def __init__(self, directory: str | os.PathLike[str], what: str = "directory") -> None:
        self.directory = Path(directory)
        self.what = what
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_NAME

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "DirectoryLock":
        """Take the lock, or raise :class:`DirectoryBusy` naming the holder's pid at once."""
        if self._fd is not None:
            return self
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise PromptoptError(f"cannot lock {self.what} {self.directory}: {exc.strerror} ({self.path})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise DirectoryBusy(
                f"{self.what} {self.directory} is in use by {who} (lock {self.path}); wait for it to finish "
                "or stop it, or choose another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
