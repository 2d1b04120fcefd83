"""``python -m promptopt.testing serve``: the server as a separate process."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from promptopt.testing import ServerStats

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError("no READY line in time")
    return proc.stdout.readline()


@pytest.fixture
def spawn() -> Iterator:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "promptopt.testing", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        procs.append(proc)
        line = _readline(proc, timeout=10)
        assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1\n"), line
        return proc, line.split()[1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_subprocess_serves_reports_stats_and_exits_on_sigterm(spawn) -> None:
    proc, base_url = spawn("--model", "sub-model", "--policy", "constant", "--text", "hi there", "--max-seqs", "2")
    root = base_url.removesuffix("/v1")
    with httpx.Client(timeout=5) as http:
        resp = http.post(
            f"{base_url}/chat/completions",
            json={"model": "sub-model", "messages": [{"role": "user", "content": "q"}]},
            headers={"Authorization": "Bearer x"},
        )
        assert resp.status_code == 200
        assert resp.json()["choices"][0]["message"]["content"] == "hi there"
        assert http.get(f"{base_url}/models").json()["data"][0]["id"] == "sub-model"
        stats = ServerStats.from_dict(http.get(f"{root}/stats").json())
        assert stats.requests_total == 2 and stats.completions_ok == 1
        assert stats.by_status == {200: 2} and stats.authorization_seen == 1
        assert http.post(f"{root}/stats/reset").status_code == 200
        assert ServerStats.from_dict(http.get(f"{root}/stats").json()) == ServerStats()
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 3
    assert proc.stdout is not None and proc.stdout.read() == ""  # exactly one line on stdout


def test_subprocess_fault_flags(spawn) -> None:
    _, base_url = spawn("--fault-rate", "429=1.0", "--retry-after", "0.5", "--policy", "hashed")
    with httpx.Client(timeout=5) as http:
        resp = http.post(f"{base_url}/chat/completions", json={"messages": [{"role": "user", "content": "q"}]})
    assert resp.status_code == 429 and resp.headers["retry-after"] == "0.5"


def test_subprocess_rejects_bad_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "promptopt.testing", "serve", "--fault-rate", "418=0.5"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=10,
    )
    assert result.returncode == 2 and "KIND=RATE" in result.stderr and result.stdout == ""


def test_server_side_import_is_light() -> None:
    code = (
        "import sys, time; import promptopt; before = set(sys.modules); t = time.perf_counter();"
        "import promptopt.testing.__main__; elapsed = time.perf_counter() - t;"
        "heavy = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in"
        " ('openai', 'httpx', 'pydantic', 'httpcore', 'anyio'));"
        "print(elapsed, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=10)
    elapsed, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]"
    assert float(elapsed) < 0.5  # ~0.05 s typical; loose bound for loaded machines
