"""What the CLI's stderr must look like when a command fails: one ``error:`` line, no traceback."""

from __future__ import annotations


def one_line_error(result) -> str:
    """The single ``error: ...`` line of a finished CLI subprocess (warnings may precede it)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]
