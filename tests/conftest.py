"""Shared fixtures: loopback test servers and clients that talk to them."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import pytest

from promptopt.llm.client import LLMClient
from promptopt.llm.connection import connect
from promptopt.llm.limits import Limits
from promptopt.llm.retry import RetryPolicy
from promptopt.testing import FaultPlan, ServerConfig, TestServer, policies

#: Fast retries for tests: the behaviour is the same, the waits are short.
FAST_RETRY = RetryPolicy(max_attempts=6, timeout_s=5.0, initial_backoff_s=0.02, max_backoff_s=0.2, deadline_s=30.0)


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


# optimizer tests import their scripted world as a plain module
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).parent / "optimizers"))
