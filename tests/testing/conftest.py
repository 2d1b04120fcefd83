"""Fixtures for the promptopt.testing server tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Iterator

import pytest

from promptopt.testing import TestServer


@pytest.fixture
def server() -> Iterator[TestServer]:
    """A default server (echo policy, no latency, no faults)."""
    with TestServer() as srv:
        yield srv


def _chat_body(text: str, model: str = "test-model", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def chat_body() -> Callable[..., dict[str, Any]]:
    """Builds a one-user-message chat completion body."""
    return _chat_body


async def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    """Polls a condition on server state (there is no event to wait on across the thread)."""
    return _wait_until
