"""The process edge: secrets masked in everything printed, warnings and log records as one
``warning: ...`` line each, and user errors as one ``error: ...`` line with the exit code."""

from __future__ import annotations

import sys
from typing import Any

import typer

from promptopt.errors import PromptoptError

#: Every character ``str.splitlines`` breaks at, shown escaped (``\n``, ``\x1c``, ``\u2028``, ...).
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """A message as one line: a line break in it (from a value the user typed, such as a task
    name with a newline) is shown escaped, so each ``error:``/``warning:`` stays one line."""
    return text.translate(_LINE_BREAKS)


class _RedactingStream:
    """stdout/stderr with every known secret masked in what is written (see
    :mod:`promptopt.redact`): one place covers echo, rich, logging and warnings."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from promptopt.redact import redact

        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _warnings_as_lines() -> None:
    """Python warnings (a torn journal line, URL credentials) as one ``warning: ...`` line each,
    each distinct message once."""
    import warnings

    shown: set[str] = set()

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = str(message)
        if text not in shown:
            shown.add(text)
            typer.echo(f"warning: {one_line(text)}", err=True)

    warnings.showwarning = show


def _log_to_stderr() -> None:
    """promptopt's warnings (e.g. a restarted model worker) as one ``warning: ...`` line each."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logging.addLevelName(logging.WARNING, "warning")
    logging.addLevelName(logging.ERROR, "error")
    logger = logging.getLogger("promptopt")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


def run_app(app: typer.Typer) -> None:
    """Run ``app`` as the process: user errors print one clear line without a traceback and exit
    non-zero (2 for bad input data, as for bad flags; 1 for everything else)."""
    sys.stdout, sys.stderr = _RedactingStream(sys.stdout), _RedactingStream(sys.stderr)  # type: ignore[assignment]
    _log_to_stderr()
    _warnings_as_lines()
    try:
        code = app(standalone_mode=False)
    except PromptoptError as exc:
        typer.echo(f"error: {one_line(str(exc))}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except OSError as exc:  # a disk or system error no command turned into a message: one line
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"error: {one_line(f'{where}{exc.strerror or exc}')}", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # a bad flag or value: one line (not a boxed panel), exit 2
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        typer.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
