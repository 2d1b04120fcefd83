"""Shared fixtures: loopback test servers, clients that talk to them, and the CLI as a user runs it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from promptopt.llm.client import LLMClient
from promptopt.llm.connection import connect
from promptopt.llm.limits import Limits
from promptopt.llm.retry import RetryPolicy
from promptopt.testing import FaultPlan, ServerConfig, TestServer, policies

#: Fast retries for tests: the behaviour is the same, the waits are short.
FAST_RETRY = RetryPolicy(max_attempts=6, timeout_s=5.0, initial_backoff_s=0.02, max_backoff_s=0.2, deadline_s=30.0)


@pytest.fixture(scope="session", autouse=True)
def _kernel_checks_file(tmp_path_factory) -> Iterator[None]:
    """The embedded engine's load-time kernel checks run once per model and settings in a
    session, not once per worker started, and never touch the user's cache directory
    (:mod:`promptopt.llm.backends.kernel_checks`; CLI subprocesses inherit the variable)."""
    from promptopt.llm.backends.kernel_checks import ENV_VAR

    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(tmp_path_factory.mktemp("kernel-checks") / "kernel-checks.json")
    yield
    if previous is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = previous


@pytest.fixture
def server_factory() -> Iterator[Callable[..., TestServer]]:
    """Start loopback servers on demand; all are stopped at the end of the test."""
    with contextlib.ExitStack() as stack:

        def start(policy=None, config=None, faults=None) -> TestServer:
            server = TestServer(
                policy=policy or policies.echo(),
                config=config or ServerConfig(),
                faults=faults or FaultPlan(),
            )
            return stack.enter_context(server)

        yield start


@pytest.fixture
def server(server_factory) -> TestServer:
    return server_factory()


def _client_for(
    server: TestServer,
    *,
    cache=None,
    retry: RetryPolicy = FAST_RETRY,
    limits: Limits | None = None,
    role: str = "downstream",
) -> LLMClient:
    return connect(
        f"openai:test-model@{server.base_url}", cache=cache, retry=retry, limits=limits, role=role
    )


@pytest.fixture
def client_for() -> Callable[..., LLMClient]:
    """``client_for(server, cache=..., retry=..., limits=...)``: an OpenAI-backend client."""
    return _client_for


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


def _run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    prefix: Sequence[str] = (),
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """``prefix``: a wrapper command (e.g. ``setpriv``); ``preexec``: run in the child before exec
    (e.g. a resource limit)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "promptopt.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec,
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


# optimizer tests import their scripted world as a plain module
sys.path.insert(0, str(Path(__file__).parent / "optimizers"))
# CLI tests share their stderr checks as a plain module too
sys.path.insert(0, str(Path(__file__).parent / "cli"))
