"""ResponseCache on real SQLite files: round trips, stats, the errors users see, concurrency."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptopt import records
from promptopt.errors import CacheError
from promptopt.llm import cache as cache_module
from promptopt.llm.cache import CacheStats, CorruptCacheError, ResponseCache, default_cache_path
from promptopt.llm.records import ChatRequest, ChatResponse, Message, Sampling, Usage

WRITER = Path(__file__).with_name("_cache_writer.py")


def ok(text: str = "hello") -> ChatResponse:
    return ChatResponse(text=text, finish_reason="stop", usage=Usage(5, 7))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "responses.sqlite3"


def test_cache_keys_written_by_earlier_versions_stay_valid() -> None:
    """Pinned keys: a change to how a request is hashed would make every user's cache miss."""
    request = ChatRequest(
        messages=(Message("system", "Be brief."), Message("user", "Ünïcode — 2+2?")),
        temperature=0.7, top_p=0.9, max_tokens=32, stop=("\n", "END"), seed=3, sample_index=2,
    )
    assert request.fingerprint("openai:gpt-x") == "c7d7b363cdf023b6be3057620b998ecbac3a8506092c48134b73edc5e4499e12"
    assert ChatRequest.user("hi").fingerprint("local") == "8ee387864ccdc52e619095cac3bdaea816d5a728400bc1793026919dc99375e2"


_texts = st.text(max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), _texts), min_size=1, max_size=4),
    temperature=st.one_of(st.integers(0, 2), st.floats(0.0, 2.0)),
    top_p=st.floats(0.01, 1.0),
    max_tokens=st.integers(1, 4096),
    stop=st.lists(_texts, max_size=3),
    seed=st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    sample_index=st.integers(0, 50),
)
def test_hand_built_key_parts_equal_the_records_dump(
    messages: list[tuple[str, str]], temperature: float, top_p: float, max_tokens: int, stop: list[str],
    seed: int | None, sample_index: int,
) -> None:
    """The key's parts are built by hand for speed; they must stay what the records write."""
    request = ChatRequest(tuple(Message(role, text) for role, text in messages), temperature, top_p, max_tokens,
                          tuple(stop), seed, sample_index)
    assert request.message_dicts() == records.dump_all(request.messages, Message)
    sampling = Sampling(temperature, top_p, max_tokens, tuple(stop), seed).to_dict()
    assert request.sampling() == {**sampling, "sample_index": sample_index}
    assert [type(v) for v in request.sampling().values()] == [type(v) for v in {**sampling, "i": 0}.values()]


def test_round_trip_preserves_fields_and_marks_cached(path: Path) -> None:
    key = ChatRequest.user("What is 2+2?", temperature=0.7, seed=3).fingerprint("openai/gpt-x")
    original = ChatResponse(
        text="4 — «four»",
        finish_reason="length",
        usage=Usage(prompt_tokens=11, completion_tokens=1, estimated=True),
        latency_s=1.25,
        attempts=3,
    )
    with ResponseCache(path) as cache:
        assert cache.path == path
        cache.put(key, "openai/gpt-x", original)
        got = cache.get(key)
    assert got == original.as_cached()
    assert got is not None and got.cached and got.ok
    assert (got.text, got.finish_reason, got.usage) == (original.text, "length", original.usage)


def test_rows_are_written_as_before_and_a_damaged_row_names_its_field(path: Path) -> None:
    with ResponseCache(path) as cache:
        cache.put("k", "m", ChatResponse(text="é", finish_reason="stop", usage=Usage(2, 3), latency_s=1))
    with sqlite3.connect(path) as conn:
        [(row,)] = conn.execute("SELECT response FROM responses").fetchall()
        # sorted keys, the latency as given, non-ASCII kept: the rows every earlier version wrote
        assert row == ('{"attempts": 1, "cached": false, "error": null, "error_kind": null, "finish_reason": "stop", '
                       '"latency_s": 1, "text": "é", "usage": {"completion_tokens": 3, "estimated": false, '
                       '"prompt_tokens": 2}}')
        conn.execute("UPDATE responses SET response = ?", (row.replace('"prompt_tokens": 2', '"prompt_tokens": "2"'),))
    with ResponseCache(path) as cache, pytest.raises(CacheError) as info:
        cache.get("k")
    message = str(info.value)
    assert "unreadable entry for key k" in message and "usage.prompt_tokens: Input should be a valid integer" in message
    assert "promptopt cache clear" in message


def test_get_many_over_500_keys_and_missing_keys_absent(path: Path) -> None:
    with ResponseCache(path) as cache:
        items = [(f"k{i}", "m", ok(f"t{i}")) for i in range(1203)]
        cache.put_many(items)
        keys = [k for k, _, _ in items] + [f"missing{i}" for i in range(10)] + ["k0"]
        got = cache.get_many(keys)
        assert set(got) == {k for k, _, _ in items}
        assert all(got[f"k{i}"].text == f"t{i}" and got[f"k{i}"].cached for i in range(1203))
        assert cache.get("missing0") is None
        assert cache.get_many([]) == {}


def test_put_of_error_response_is_refused(path: Path) -> None:
    with ResponseCache(path) as cache:
        with pytest.raises(ValueError):
            cache.put("k", "m", ChatResponse.failure("boom", "server"))
        with pytest.raises(ValueError):  # nothing of the batch is written
            cache.put_many([("a", "m", ok()), ("b", "m", ChatResponse.failure("x", "auth"))])
        assert cache.stats().entries == 0


def test_stats_counts_entries_models_hits_misses(path: Path) -> None:
    with ResponseCache(path) as cache:
        cache.put("a", "m1", ok())
        cache.put("b", "m1", ok())
        cache.put("c", "m2", ok())
        cache.put("a", "m1", ok("replaced"))  # same key: replaced, not duplicated
        cache.get_many(["a", "c", "x", "y"])
        cache.get("z")
        stats = cache.stats()
    assert isinstance(stats, CacheStats)
    assert stats.path == path
    assert stats.entries == 3
    assert stats.per_model == {"m1": 2, "m2": 1}
    assert (stats.hits, stats.misses) == (2, 3)
    assert stats.size_bytes > 0


def test_clear_by_model_and_all(path: Path) -> None:
    with ResponseCache(path) as cache:
        cache.put_many([(f"a{i}", "m1", ok()) for i in range(5)] + [("b", "m2", ok())])
        assert cache.clear("m1") == 5
        assert cache.clear("nope") == 0
        assert cache.stats().per_model == {"m2": 1}
        assert cache.clear() == 1
        assert cache.stats().entries == 0
        cache.put("c", "m3", ok())  # still usable after VACUUM
        assert cache.get("c") is not None


def test_entries_persist_across_reopen(path: Path) -> None:
    with ResponseCache(path) as cache:
        cache.put("k", "m", ok("kept"))
        cache.get("nope")
    with ResponseCache(path) as cache:
        got = cache.get("k")
        assert got is not None and got.text == "kept"
        assert (cache.stats().hits, cache.stats().misses) == (1, 0)


def test_parent_directories_are_created_and_wal_is_used(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "cache.sqlite3"
    with ResponseCache(path) as cache:
        cache.put("k", "m", ok())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_default_path_honours_env_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTOPT_CACHE", str(tmp_path / "custom.db"))
    assert default_cache_path() == tmp_path / "custom.db"
    monkeypatch.delenv("PROMPTOPT_CACHE")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert default_cache_path() == tmp_path / "xdg" / "promptopt" / "responses.sqlite3"
    assert default_cache_path().name == "responses.sqlite3"


def test_default_path_is_used_when_none_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTOPT_CACHE", str(tmp_path / "env" / "c.sqlite3"))
    with ResponseCache() as cache:
        assert cache.path == tmp_path / "env" / "c.sqlite3"
    assert cache.path.is_file()


def test_corrupt_file_reported_at_open_and_left_untouched(path: Path) -> None:
    junk = random.Random(0).randbytes(8192)
    path.write_bytes(junk)
    with pytest.raises(CacheError) as info:
        ResponseCache(path)
    message = str(info.value)
    assert str(path) in message and "corrupt" in message and "promptopt cache clear" in message
    assert path.read_bytes() == junk
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]

    assert ResponseCache.reset_file(path) == [path]
    with ResponseCache(path) as cache:
        cache.put("k", "m", ok())
        assert cache.get("k") is not None


def test_malformed_database_reported_at_open(path: Path) -> None:
    with ResponseCache(path) as cache:
        cache.put_many([(f"k{i}", "m", ok("x" * 200)) for i in range(50)])
        cache.clear("none")
    with sqlite3.connect(path) as conn:  # fold the WAL into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = random.Random(1).randbytes(3996)  # the schema page, after the header
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="corrupt") as info:
        ResponseCache(path)
    assert str(path) in str(info.value)


def filled(path: Path, rows: int = 3000) -> None:
    """A real cache of ``rows`` entries (about 2 MB), its WAL folded into the main file."""
    rng = random.Random(5)
    with ResponseCache(path) as cache:
        cache.put_many((f"k{i}", "m", ok("x" * rng.randint(300, 900))) for i in range(rows))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_corrupt_page_behind_a_valid_header_reported_at_open(path: Path) -> None:
    """Issue 14, row 11: header and schema intact, one page in the middle overwritten; reads of
    other keys and writes that do not reach the page would work, so only a check finds it."""
    filled(path)
    data = bytearray(path.read_bytes())
    middle = (len(data) // 4096 // 2) * 4096
    data[middle : middle + 4096] = random.Random(2).randbytes(4096)
    path.write_bytes(bytes(data))
    conn = sqlite3.connect(path)  # the layout still reads fine: the damage is deeper
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} >= {"responses"}
    conn.close()
    with pytest.raises(CacheError, match="corrupt") as info:
        ResponseCache(path)
    message = str(info.value)
    assert str(path) in message and "promptopt cache clear" in message
    assert "\n" not in message  # one line for the CLI's "error:"
    assert isinstance(info.value, CorruptCacheError)  # the one failure deleting the file repairs


async def test_deleted_file_is_recreated_with_a_warning_and_later_answers_kept(
    path: Path, server, client_for
) -> None:
    """Issue 14, row 12: the file removed under a running client. The next write notices, makes
    a new cache at the path and says so; the answers after that are in the new file."""
    cache = ResponseCache(path)
    client = client_for(server, cache=cache)
    try:
        first = await client.complete([ChatRequest.user("first question")])
        assert first[0].ok
        ResponseCache.reset_file(path)  # what "rm responses.sqlite3*" does
        with pytest.warns(UserWarning) as caught:
            second = await client.complete([ChatRequest.user("second question")])
        assert second[0].ok and not second[0].cached
        about_cache = [w for w in caught if "response cache" in str(w.message)]
        assert len(about_cache) == 1
        message = str(about_cache[0].message)
        assert str(path) in message and "deleted" in message and "--resume" in message
        with ResponseCache(path) as reopened:  # a later process (a --resume) finds the new answer
            assert reopened.stats().entries == 1
        third = await client.complete([ChatRequest.user("second question")])
        assert third[0].cached  # the same, live file: served from it, no new request
        assert server.stats().requests_total == 2
    finally:
        await client.aclose()
        cache.close()


def test_main_file_deleted_alone_leaves_no_stale_wal_behind(path: Path) -> None:
    """Only the main file removed: the old -wal/-shm must not be read as the new file's."""
    cache = ResponseCache(path)
    cache.put_many([(f"old{i}", "m", ok()) for i in range(20)])
    path.unlink()
    with pytest.warns(UserWarning, match="deleted"):
        cache.put("new", "m", ok("after"))
    cache.put("newer", "m", ok("later"))
    cache.close()
    with ResponseCache(path) as reopened:
        assert reopened.stats().entries == 2
        assert reopened.get("new") is not None and reopened.get("old0") is None


@pytest.mark.parametrize("removed", ["all files", "main file only"])
def test_two_processes_whose_cache_is_deleted_both_keep_later_answers(path: Path, removed: str) -> None:
    """Both users of a deleted cache reopen the path: every later answer of either lands in one
    new, sound file (the stale -wal/-shm of the old file is never read as the new one's)."""
    root = Path(cache_module.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    cache = ResponseCache(path)
    cache.put("before", "m", ok())
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), "beta", "300"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        if removed == "all files":
            ResponseCache.reset_file(path)
        else:
            path.unlink()
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        # whichever reopens second finds the file the first one made: "replaced", not "deleted"
        with pytest.warns(UserWarning, match="deleted|replaced"):
            for i in range(300):
                cache.put(f"alpha-{i}", "m", ok(f"a{i}"))
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        assert str(path) in err and ("deleted" in err or "replaced" in err)  # warned too
    finally:
        if writer.poll() is None:
            writer.kill()
        cache.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        counts = dict(conn.execute("SELECT substr(key, 1, 5), COUNT(*) FROM responses GROUP BY 1"))
    finally:
        conn.close()
    assert counts == {"alpha": 300, "beta-": 300}


def test_replaced_file_is_used_from_then_on(path: Path, tmp_path: Path) -> None:
    cache = ResponseCache(path)
    cache.put("mine", "m", ok())
    other = tmp_path / "other.sqlite3"
    with ResponseCache(other) as replacement:
        replacement.put("theirs", "m", ok())
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(other, path)
    with pytest.warns(UserWarning, match="replaced") as caught:
        cache.put("after", "m", ok())
    assert str(path) in str(caught[0].message)
    assert cache.get("theirs") is not None and cache.get("after") is not None
    cache.close()


def test_file_replaced_by_something_unusable_fails_the_write(path: Path) -> None:
    cache = ResponseCache(path)
    cache.put("k", "m", ok())
    ResponseCache.reset_file(path)
    path.mkdir()
    with pytest.raises(CacheError, match="replaced while in use and cannot be reopened") as info:
        cache.put("k2", "m", ok())
    assert str(path) in str(info.value)
    with pytest.raises(CacheError, match="cannot be reopened"):  # and says so again, not "closed"
        cache.put("k3", "m", ok())
    cache.close()


def test_reset_file_removes_wal_and_shm(path: Path) -> None:
    cache = ResponseCache(path)
    cache.put("k", "m", ok())
    siblings = {p.name for p in path.parent.iterdir()}
    assert {path.name, path.name + "-wal", path.name + "-shm"} <= siblings
    cache.close()
    ResponseCache.reset_file(path)  # close() may already have removed -wal/-shm
    assert list(path.parent.iterdir()) == []
    assert ResponseCache.reset_file(path) == []


def test_newer_schema_version_refused(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    with pytest.raises(CacheError, match="newer promptopt") as info:
        ResponseCache(path)
    assert str(path) in str(info.value)


def test_foreign_sqlite_database_refused(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(CacheError, match="did not create"):
        ResponseCache(path)


def test_lock_held_by_other_connection_reports_locked(path: Path) -> None:
    cache = ResponseCache(path, busy_timeout_s=0.2)
    cache.put("before", "m", ok())
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        # Readers still work under WAL, but opening checks that the write lock can be taken:
        # a run would otherwise pay for answers that it then cannot keep (issue 14, row 11).
        assert cache.get("before") is not None
        start = time.monotonic()
        with pytest.raises(CacheError, match="locked") as info:
            ResponseCache(path, busy_timeout_s=0.2)
        assert 0.2 <= time.monotonic() - start < 1.0  # it waited out the busy timeout, no more
        assert str(path) in str(info.value) and "0.2 s" in str(info.value)
        assert not isinstance(info.value, CorruptCacheError)  # never "repaired" by deleting it
        start = time.monotonic()
        with pytest.raises(CacheError, match="locked") as info:
            cache.put("k", "m", ok())
        assert time.monotonic() - start < 1.0
        assert str(path) in str(info.value)
        with pytest.raises(CacheError, match="locked"):
            cache.put_many([("k", "m", ok())])
    finally:
        other.execute("ROLLBACK")
        other.close()
    cache.put("k", "m", ok())
    assert cache.get("k") is not None
    cache.close()


def test_unusable_locations_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="Cannot create the directory") as info:
        ResponseCache(blocker / "sub" / "c.sqlite3")
    assert str(blocker / "sub" / "c.sqlite3") in str(info.value)
    with pytest.raises(CacheError, match="is a directory"):
        ResponseCache(tmp_path)


def test_closed_cache_raises(path: Path) -> None:
    cache = ResponseCache(path)
    cache.close()
    cache.close()
    with pytest.raises(CacheError, match="closed"):
        cache.get("k")


def test_shared_between_threads(path: Path) -> None:
    with ResponseCache(path) as cache:

        def write(t: int) -> None:
            for i in range(50):
                cache.put(f"{t}-{i}", "m", ok())
                cache.get(f"{t}-{i}")

        threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert cache.stats().entries == 200


def test_two_processes_writing_at_once_lose_nothing(path: Path) -> None:
    root = Path(cache_module.__file__).resolve().parents[2]  # the tree holding promptopt/
    pythonpath = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": pythonpath}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(path), prefix, "400"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for prefix in ("alpha", "beta")
    ]
    try:
        for proc in procs:  # both have opened the cache; release them together
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", (
                proc.stderr.read() if proc.stderr else ""
            )
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    keys = [f"{prefix}-{i}" for prefix in ("alpha", "beta") for i in range(400)]
    with ResponseCache(path) as cache:
        stats = cache.stats()
        assert stats.entries == 800
        assert stats.per_model == {"model-alpha": 400, "model-beta": 400}
        got = cache.get_many(keys)
    assert set(got) == set(keys)
    assert got["beta-399"].text == "beta answer 399"
