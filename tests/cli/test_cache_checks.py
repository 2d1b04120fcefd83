"""A cache that cannot be used stops a command before its first request (issue 14, row 11).

The README promises that the cache is checked before any spend: a cache locked by another
process, or one with a corrupt page behind a valid header, must fail ``eval`` and ``optimize``
with one ``error:`` line naming the file while the server has seen no request at all, rather
than after the answers were paid for and could not be kept.
"""

from __future__ import annotations

import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from promptopt.llm.cache import ResponseCache
from promptopt.llm.records import ChatResponse, Usage
from stderr_lines import one_line_error  # noqa: E402  (tests/cli is on sys.path through conftest)


def filled_cache(path: Path, rows: int = 3000) -> None:
    """A real cache of ``rows`` entries (about 2 MB), its WAL folded into the main file."""
    rng = random.Random(7)
    with ResponseCache(path) as cache:
        cache.put_many(
            (f"key-{i}-{rng.random()}", "test-model", ChatResponse(text="x" * rng.randint(300, 900), usage=Usage(5, 7)))
            for i in range(rows)
        )
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def corrupt_a_middle_page(path: Path) -> None:
    """Garbage over one page in the middle of the file: the header and the schema stay valid."""
    data = bytearray(path.read_bytes())
    page = 4096
    middle = (len(data) // page // 2) * page
    data[middle : middle + page] = random.Random(3).randbytes(page)
    path.write_bytes(bytes(data))


@pytest.fixture
def prompt(tmp_path: Path) -> Path:
    file = tmp_path / "prompt.txt"
    file.write_text("Label the sentiment as positive or negative.")
    return file


def commands(server, prompt: Path, tmp_path: Path) -> list[tuple[str, ...]]:
    spec = f"openai:test-model@{server.base_url}"
    return [
        ("eval", str(prompt), "--task", "demo_sentiment", "--model", spec, "--limit", "5"),
        ("optimize", "--task", "demo_sentiment", "--model", spec, "--run-dir", str(tmp_path / "run"),
         "--max-calls", "20"),
    ]


def test_a_cache_locked_by_another_process_fails_eval_and_optimize_before_any_request(
    run_cli, server, home, tmp_path, prompt
):
    cache = tmp_path / "cache" / "responses.sqlite3"
    filled_cache(cache, rows=10)
    holder = sqlite3.connect(cache, isolation_level=None)  # this test process: "another process"
    holder.execute("BEGIN IMMEDIATE")  # holds the write lock for as long as both commands run
    env = {**home, "PROMPTOPT_CACHE": str(cache)}
    try:
        # each waits out the cache's busy timeout (30 s) for the lock: run them all at once;
        # `cache clear` must not take a locked cache for a corrupt one and delete it
        invocations = [*commands(server, prompt, tmp_path), ("cache", "clear", "--path", str(cache))]
        with ThreadPoolExecutor(len(invocations)) as pool:
            results = list(pool.map(lambda args: run_cli(*args, env=env, timeout=200), invocations))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for result in results:
        assert result.returncode == 1, (result.stdout, result.stderr)
        line = one_line_error(result)
        assert str(cache) in line and "locked" in line
        assert f"warning: The response cache {cache} is locked by another process; waiting up to 30 s" in result.stderr
    assert server.stats().requests_total == 0
    assert not (tmp_path / "run" / "config.json").exists()  # no run started: a plain rerun works
    with ResponseCache(cache) as kept:
        assert kept.stats().entries == 10  # the locked cache was not "repaired" away


def test_a_corrupt_page_behind_a_valid_header_fails_eval_and_optimize_before_any_request(
    run_cli, server, home, tmp_path, prompt
):
    cache = tmp_path / "cache" / "responses.sqlite3"
    filled_cache(cache)
    corrupt_a_middle_page(cache)
    env = {**home, "PROMPTOPT_CACHE": str(cache)}
    for args in commands(server, prompt, tmp_path):
        result = run_cli(*args, env=env, timeout=200)
        assert result.returncode == 1, (result.stdout, result.stderr)
        line = one_line_error(result)
        assert str(cache) in line and "corrupt" in line and "promptopt cache clear" in line
    assert server.stats().requests_total == 0
    assert not (tmp_path / "run" / "config.json").exists()
