"""A run killed with SIGKILL in its second generation resumes to the same result, re-sending no
request that had been answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)


def write_task_file(path: Path) -> Path:
    task = scripted.make_task(n_dev=230, n_test=0)
    path.write_text("".join(json.dumps({"text": e.inputs["text"], "label": e.target}) + "\n" for e in task.dev))
    return path


def optimize_args(data: Path, base_url: str, run_dir: Path) -> list[str]:
    args = [
        sys.executable, "-m", "promptopt.cli", "optimize",
        "--task", str(data), "--input-field", "text", "--target-field", "label",
        # one request in flight at a time: at the kill exactly one request is unanswered
        "--model", f"openai:test-model@{base_url}?max_concurrency=1",
        "--max-generations", "3", "--population", "4", "--offspring", "4", "--block-size", "20",
        "--max-blocks", "5", "--dev-size", "100", "--max-shots", "2", "--max-tokens", "32",
        "--seed", "7", "--run-dir", str(run_dir), "--json",
    ]
    for prompt in scripted.INITIAL:
        args += ["--prompt", prompt]
    return args


def generations_done(run_dir: Path) -> int:
    journal = run_dir / "journal.jsonl"
    if not journal.exists():
        return 0
    return journal.read_text().count('"event": "generation"')


def test_sigkill_during_second_generation_then_resume(server_factory, home, tmp_path):
    data = write_task_file(tmp_path / "reviews.jsonl")
    state = {"pid": None, "after": 0, "killed": False}
    run_dir = tmp_path / "killed"

    def killing_policy(request):
        # once generation 1 is journaled, let generation 2 make some progress, then SIGKILL the
        # CLI while this request is unanswered
        if not state["killed"] and state["pid"] and generations_done(run_dir) >= 1:
            state["after"] += 1
            if state["after"] == 40:
                os.kill(state["pid"], signal.SIGKILL)
                state["killed"] = True
                raise RuntimeError("the client was killed")
        return scripted.policy(request)

    server = server_factory(policy=killing_policy)
    proc = subprocess.Popen(optimize_args(data, server.base_url, run_dir), env=home, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    state["pid"] = proc.pid
    proc.communicate(timeout=300)
    assert state["killed"] and proc.returncode == -signal.SIGKILL
    assert generations_done(run_dir) == 1 and not (run_dir / "summary.json").exists()
    answered_before = dict(server.stats().successes_per_key)

    resumed = subprocess.run(optimize_args(data, server.base_url, run_dir) + ["--resume"], env=home,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    stats = server.stats()
    twice = {key: n for key, n in stats.successes_per_key.items() if n > 1}
    assert twice == {}, f"{len(twice)} answered request(s) were sent again"
    assert len(stats.successes_per_key) > len(answered_before)  # the resumed run did new work

    # an uninterrupted run with the same seed, its own cache and server
    other_home = {**home, "XDG_CACHE_HOME": str(tmp_path / "other-cache")}
    fresh_server = server_factory(policy=scripted.policy)
    uninterrupted = subprocess.run(optimize_args(data, fresh_server.base_url, tmp_path / "straight"),
                                   env=other_home, capture_output=True, text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    a, b = json.loads(resumed.stdout), json.loads(uninterrupted.stdout)
    assert a["population"] == b["population"]
    assert a["best"] == b["best"] and a["generations"] == b["generations"] == 3

    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert [e["generation"] for e in events if e["event"] == "generation"] == [1, 2, 3]
