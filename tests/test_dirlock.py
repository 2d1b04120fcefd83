"""One writer per run directory: another process's lock refuses at once, naming its pid, and a
SIGKILL'ed holder leaves nothing that blocks the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptopt.dirlock import DirectoryBusy, DirectoryLock
from promptopt.runs import RunDir

HOLD = (
    "import sys, time\n"
    "from promptopt.dirlock import DirectoryLock\n"
    "DirectoryLock(sys.argv[1]).acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


def hold(directory: Path) -> subprocess.Popen:
    """Another process holding ``directory``'s lock (it says so once it has it)."""
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_run_directory_refuses_another_writer_until_its_holder_is_killed(tmp_path):
    holder = hold(tmp_path / "run")
    try:
        run = RunDir(tmp_path / "run")
        with pytest.raises(DirectoryBusy, match=f"run directory {tmp_path / 'run'} is in use by process {holder.pid}"):
            run.acquire()
        with pytest.raises(DirectoryBusy):
            run.record("anything", value=1)  # a write without an explicit acquire takes the lock too
        assert not run.journal_path.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # the kernel dropped the lock with the process: the stale lock file blocks nothing
    run.record("anything", value=1)
    assert [e["event"] for e in run.events()] == ["anything"]
    run.release()


def test_the_lock_is_released_and_taken_again_within_one_process(tmp_path):
    first = DirectoryLock(tmp_path, "run directory").acquire()
    assert first.acquire() is first and first.held  # taking it twice is a no-op
    with pytest.raises(DirectoryBusy, match=f"in use by process {os.getpid()}"):
        DirectoryLock(tmp_path).acquire()
    first.release()
    with DirectoryLock(tmp_path) as again:
        assert again.held
    assert not again.held


def test_plan_run_and_bench_refuse_a_directory_another_process_holds(run_cli, home, tmp_path):
    for out, args in (
        (tmp_path / "plan", ("plan", "run", "--agents", "greedy", "--episodes", "1")),
        (tmp_path / "bench", ("bench", "--optimizers", "initial", "--tasks", "demo_sentiment", "--seeds", "1", "--budget-tokens", "1000", "--force",
                              "--model", "openai:test-model@http://127.0.0.1:9/v1")),
    ):
        holder = hold(out)
        try:
            started = time.monotonic()
            refused = run_cli(*args, "--out", str(out), env=home, timeout=120)
            assert refused.returncode == 1, refused.stderr
            assert f"is in use by process {holder.pid}" in refused.stderr and "Traceback" not in refused.stderr
            assert time.monotonic() - started < 60
        finally:
            holder.kill()
            holder.wait(timeout=30)
