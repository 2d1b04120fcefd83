"""A run killed with SIGKILL mid-run resumes to the same result, re-sending no request that had been
answered: CAPO in its second generation, and each baseline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)


def write_task_file(path: Path) -> Path:
    task = scripted.make_task(n_dev=230, n_test=0)
    path.write_text("".join(json.dumps({"text": e.inputs["text"], "label": e.target}) + "\n" for e in task.dev))
    return path


CAPO_ARGS = ["--max-generations", "3", "--population", "4", "--offspring", "4", "--block-size", "20",
             "--max-blocks", "5", "--dev-size", "100", "--max-shots", "2"]


def optimize_args(data: Path, base_url: str, run_dir: Path, settings: list[str] = CAPO_ARGS) -> list[str]:
    args = [
        sys.executable, "-m", "promptopt.cli", "optimize",
        "--task", str(data), "--input-field", "text", "--target-field", "label",
        # one request in flight at a time: at the kill exactly one request is unanswered
        "--model", f"openai:test-model@{base_url}?max_concurrency=1",
        *settings, "--max-tokens", "32", "--seed", "7", "--run-dir", str(run_dir), "--json",
    ]
    for prompt in scripted.INITIAL:
        args += ["--prompt", prompt]
    return args


def generations_done(run_dir: Path) -> int:
    journal = run_dir / "journal.jsonl"
    if not journal.exists():
        return 0
    return journal.read_text().count('"event": "generation"')


def uninterrupted_cli(server_factory, home, tmp_path, data, settings):
    """The summary of an uninterrupted CLI run with the same seed, its own cache and server."""
    other_home = {**home, "XDG_CACHE_HOME": str(tmp_path / "other-cache")}
    fresh_server = server_factory(policy=scripted.policy)
    uninterrupted = subprocess.run(optimize_args(data, fresh_server.base_url, tmp_path / "straight", settings),
                                   env=other_home, capture_output=True, text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    return json.loads(uninterrupted.stdout)


def uninterrupted_in_process(server_factory, home, tmp_path, data, settings):
    """The same, through ``aoptimize`` in this process (no interpreter start-up to pay for)."""
    import asyncio

    from promptopt.budget import Budget
    from promptopt.llm.cache import ResponseCache
    from promptopt.optimization import aoptimize, config_from_options
    from promptopt.optimizers.base import summary_of
    from promptopt.tasks.registry import load_task_from_file

    flags = dict(zip(settings[::2], settings[1::2]))
    name = flags.pop("--optimizer")
    generations = flags.pop("--max-generations", None)
    options = {flag[2:].replace("-", "_"): int(value) for flag, value in flags.items()}
    fresh_server = server_factory(policy=scripted.policy)
    result = asyncio.run(aoptimize(
        load_task_from_file(data, input_fields=["text"], target_field="label"), optimizer=name,
        model=f"openai:test-model@{fresh_server.base_url}", seed=7,
        config=config_from_options(name, max_tokens=32, **options),
        budget=Budget.from_options(generations=None if generations is None else int(generations), no_improvement=5),
        initial_prompts=scripted.INITIAL, run_dir=tmp_path / "straight", cache=ResponseCache(tmp_path / "c.sqlite3"),
    ))
    return summary_of(result)


def kill_and_resume(server_factory, home, tmp_path, settings, *, after_generations, after_requests,
                    uninterrupted=uninterrupted_cli):
    """SIGKILL the CLI at the ``after_requests``-th request once ``after_generations`` generations
    are journaled, resume it, and compare with an uninterrupted run; returns the resumed run's
    summary and journal."""
    data = write_task_file(tmp_path / "reviews.jsonl")
    state = {"pid": None, "after": 0, "killed": False}
    run_dir = tmp_path / "killed"

    def killing_policy(request):
        # kill the CLI while this request is unanswered
        if not state["killed"] and state["pid"] and generations_done(run_dir) >= after_generations:
            state["after"] += 1
            if state["after"] == after_requests:
                os.kill(state["pid"], signal.SIGKILL)
                state["killed"] = True
                raise RuntimeError("the client was killed")
        return scripted.policy(request)

    server = server_factory(policy=killing_policy)
    proc = subprocess.Popen(optimize_args(data, server.base_url, run_dir, settings), env=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state["pid"] = proc.pid
    proc.communicate(timeout=300)
    assert state["killed"] and proc.returncode == -signal.SIGKILL
    assert generations_done(run_dir) == after_generations and not (run_dir / "summary.json").exists()
    answered_before = dict(server.stats().successes_per_key)

    resumed = subprocess.run(optimize_args(data, server.base_url, run_dir, settings) + ["--resume"], env=home,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    stats = server.stats()
    twice = {key: n for key, n in stats.successes_per_key.items() if n > 1}
    assert twice == {}, f"{len(twice)} answered request(s) were sent again"
    assert len(stats.successes_per_key) > len(answered_before)  # the resumed run did new work

    a, b = json.loads(resumed.stdout), uninterrupted(server_factory, home, tmp_path, data, settings)
    assert a["population"] == b["population"]
    assert a["best"] == b["best"] and a["generations"] == b["generations"]

    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(len(events)))
    return a, events


def test_sigkill_during_second_generation_then_resume(server_factory, home, tmp_path):
    # once generation 1 is journaled, let generation 2 make some progress, then kill
    summary, events = kill_and_resume(server_factory, home, tmp_path, CAPO_ARGS, after_generations=1,
                                      after_requests=40)
    assert summary["generations"] == 3
    assert [e["generation"] for e in events if e["event"] == "generation"] == [1, 2, 3]


BASELINE_ARGS = ["--population", "4", "--block-size", "10", "--dev-size", "20"]


@pytest.mark.parametrize(
    ("optimizer", "settings", "after_generations"),
    [
        ("opro", ["--max-generations", "2", "--offspring", "3"], 1),
        ("evoprompt-ga", ["--max-generations", "2", "--offspring", "4"], 1),
        ("evoprompt-de", ["--max-generations", "2"], 1),
        ("initial", [], 0),  # killed while the initial prompts are scored
    ],
)
def test_baseline_killed_mid_run_resumes_to_the_same_result(server_factory, home, tmp_path, optimizer, settings,
                                                           after_generations):
    # killed at the 10th request after the last journaled generation: in generation 2, past its
    # meta batch, while the new candidates are scored (for "initial": while the prompts are)
    summary, events = kill_and_resume(server_factory, home, tmp_path,
                                      ["--optimizer", optimizer, *BASELINE_ARGS, *settings],
                                      after_generations=after_generations, after_requests=10,
                                      uninterrupted=uninterrupted_in_process)
    assert summary["optimizer"] == optimizer
    assert summary["generations"] == (2 if after_generations else 0)
    expected = [1, 2] if after_generations else []
    assert [e["generation"] for e in events if e["event"] == "generation"] == expected


def test_a_second_process_on_a_run_directory_is_refused_at_once(server_factory, home, tmp_path):
    import asyncio
    import time

    data = write_task_file(tmp_path / "reviews.jsonl")
    run_dir, release = tmp_path / "one-run", tmp_path / "release"

    async def held_policy(request):
        # the first run's requests wait until the second process has been turned away: a second
        # process that waited for the lock (or sent requests first) would hang this test
        while not release.exists():
            await asyncio.sleep(0.02)
        return scripted.policy(request)

    server = server_factory(policy=held_policy)
    settings = ["--optimizer", "opro", "--max-generations", "1", "--population", "4", "--offspring", "2",
                "--block-size", "20", "--dev-size", "40"]
    first = subprocess.Popen(optimize_args(data, server.base_url, run_dir, settings), env=home,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ((run_dir / ".lock").exists() and (run_dir / ".lock").read_text().strip() == str(first.pid)):
            assert time.monotonic() < deadline and first.poll() is None, "the first run never took the lock"
            time.sleep(0.05)
        for extra in ([], ["--resume"]):
            second = subprocess.run(optimize_args(data, server.base_url, run_dir, settings) + extra, env=home,
                                    capture_output=True, text=True, timeout=60)
            assert second.returncode == 1, second.stderr
            assert f"run directory {run_dir} is in use by process {first.pid}" in second.stderr
            assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
    finally:
        release.touch()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(len(events)))
    # the journal replays: a resume re-derives every decision from it and ends at the same best
    resumed = subprocess.run(optimize_args(data, server.base_url, run_dir, settings) + ["--resume"], env=home,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["best"] == json.loads(out)["best"]
