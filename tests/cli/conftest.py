"""CLI fixtures: run promptopt as a user would, with every user directory in a temp folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest


def _run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "promptopt.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli(*args, env=..., timeout=...)``: the CLI in a subprocess, output captured."""
    return _run_cli


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose every user directory lies under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "PROMPTOPT_CACHE"}
    for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "TMPDIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        env[name] = str(folder)
    return env


