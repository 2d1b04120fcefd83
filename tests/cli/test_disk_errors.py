"""Disk errors (issue 14, row 8): a read-only run directory and a disk that refuses a write
mid-run give one line naming the path; the journal is never torn, and a resume after the
space is back finishes the run."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)
from stderr_lines import one_line_error  # noqa: E402  (tests/cli is on sys.path through conftest)


def _without_root_override() -> list[str]:
    """root writes anywhere: without the DAC-override capability its writes obey file modes."""
    if os.geteuid() != 0:
        return []
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test permissions as root"
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_a_read_only_run_directory_is_one_line_naming_it(run_cli, home, tmp_path, server_factory):
    server = server_factory(policy=scripted.policy)
    parent = tmp_path / "readonly"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        args = ("optimize", "--task", "demo_sentiment", "--model", f"openai:test-model@{server.base_url}",
                "--budget-tokens", "3000", "--force", "--no-cache")  # --force: past the preflight
        nested = run_cli(*args, "--run-dir", str(parent / "run"), env=home, timeout=300, prefix=_without_root_override())
        assert nested.returncode == 1
        line = one_line_error(nested)
        assert f"cannot create the run directory {parent / 'run'}: Permission denied" in line, line
    finally:
        parent.chmod(0o755)
    assert server.stats().requests_total == 0


def _file_size_limit(limit: int):
    def apply() -> None:
        # a full disk, as the process sees it: a write past `limit` bytes fails (EFBIG, not a signal)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_disk_that_fills_mid_run_is_one_line_and_the_run_resumes(run_cli, home, tmp_path, server_factory):
    server = server_factory(policy=scripted.policy)
    run_dir = tmp_path / "run"
    args = ["optimize", "--task", "demo_sentiment", "--model", f"openai:test-model@{server.base_url}",
            "--budget-tokens", "30000", "--force", "--run-dir", str(run_dir), "--json"]  # stops mid-generation
    limited = run_cli(*args, env=home, timeout=300, preexec=_file_size_limit(40_000))
    assert limited.returncode == 1, limited.stderr
    line = one_line_error(limited)
    assert "responses.sqlite3" in line and "Free disk space" in line, line
    journal = run_dir / "journal.jsonl"
    assert journal.read_bytes().endswith(b"\n")
    resumed = run_cli(*args, "--resume", env=home, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "warning" not in resumed.stderr, resumed.stderr
    assert json.loads(resumed.stdout)["best"]["instruction"]


WRITER = """
import sys
from promptopt.runs import RunDir
from promptopt.errors import DiskError
run = RunDir(sys.argv[1]).acquire()
try:
    for n in range(100_000):
        run.record("step", n=n, padding="x" * 300)
except DiskError as exc:
    print(exc)
"""


def test_a_journal_line_the_disk_refuses_is_not_left_torn(tmp_path):
    run_dir = tmp_path / "run"
    limit = 20_000
    done = subprocess.run([sys.executable, "-c", WRITER, str(run_dir)], capture_output=True, text=True, timeout=60,
                          preexec_fn=_file_size_limit(limit))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    journal = run_dir / "journal.jsonl"
    assert done.stdout.startswith(f"cannot write {journal}: File too large"), done.stdout
    text = journal.read_bytes()
    assert text.endswith(b"\n") and len(text) <= limit
    seqs = [json.loads(row)["seq"] for row in text.splitlines()]
    assert seqs == list(range(len(seqs))) and len(seqs) > 10  # whole lines only, none torn
    from promptopt.runs import RunDir

    contents = RunDir(run_dir).read_journal()
    assert not contents.truncated and len(contents.events) == len(seqs)


def test_a_torn_last_journal_line_is_one_warning_line_on_resume(run_cli, home, tmp_path, server_factory):
    server = server_factory(policy=scripted.policy)
    run_dir = tmp_path / "run"
    args = ["optimize", "--task", "demo_sentiment", "--model", f"openai:test-model@{server.base_url}",
            "--budget-tokens", "30000", "--force", "--run-dir", str(run_dir), "--json"]  # stops mid-generation
    first = run_cli(*args, env=home, timeout=300)
    assert first.returncode == 0, first.stderr
    with open(run_dir / "journal.jsonl", "ab") as journal:
        journal.write(b'{"event": "half a li')  # what a kill in the middle of a write leaves
    resumed = run_cli(*args, "--resume", env=home, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.strip().splitlines() == [
        f"warning: {run_dir / 'journal.jsonl'}: ignoring a partial last line (20 bytes) left by an interrupted run"
    ]
