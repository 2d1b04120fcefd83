"""Processes a side-by-side needs: llama.cpp's server with the embedded model, the metering proxy,
and the other libraries' runners, each in its own virtual environment.

The drivers (capo_vs_promptolution.py, eval_throughput_vs.py) run in our .venv; a runner runs
in its library's venv under bench/versus/.venvs/ and talks JSON on stdin/stdout, so no process
imports the other side's code.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"


def venv_python(name: str) -> Path:
    """The interpreter of one library's venv; tells how to create it when missing."""
    python = VENVS / name / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} not found: run `bash bench/versus/setup.sh` first")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, what: str, seconds: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise SystemExit(f"{what} exited early: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{what} did not come up within {seconds:.0f} s")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def llama_server(workdir: Path, n_ctx: int = 2048, alias: str = "smollm2") -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on loopback serving the embedded SmolLM2 GGUF;
    yields the root URL (append /v1 for clients). One request at a time, like the model's CPU."""
    from promptopt.llm.backends.local import embedded_model_path

    model = embedded_model_path()
    if model is None:
        raise SystemExit("the embedded model is missing: install promptopt with the 'local' extra")
    port = free_port()
    log_path = workdir / "llama_server.log"
    with open(log_path, "wb") as log:  # a file: llama.cpp's start-up log would fill a pipe
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", str(n_ctx), "--interrupt_requests", "False",
             "--model_alias", alias],
            stdout=log, stderr=subprocess.STDOUT,
        )
        root = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{root}/v1/models", proc, "llama.cpp server", 120, log_path)
            yield root
        finally:
            _stop(proc)


@contextmanager
def meter_proxy(upstream: str) -> Iterator[str]:
    """The metering proxy in front of ``upstream``; yields its root URL."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "meter.py"), "--upstream", upstream], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"meter proxy did not start: {line!r}")
    try:
        yield line.split(" ", 1)[1]
    finally:
        _stop(proc)


def meter_read(root: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{root}/meter", timeout=10) as reply:
        return json.loads(reply.read())


def meter_log(root: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{root}/meter/log", timeout=30) as reply:
        return json.loads(reply.read())


def meter_reset(root: str) -> None:
    request = urllib.request.Request(f"{root}/meter/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=10).read()


def run_runner(venv: str, script: str, args: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run ``script`` with ``venv``'s interpreter: JSON arguments on stdin, a JSON result as the
    last line of stdout; its stderr passes through (their logs and progress bars)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("OPENAI_API_KEY", "no-key")
    proc = subprocess.run(
        [str(venv_python(venv)), str(HERE / script)],
        input=json.dumps(args), capture_output=True, check=False, text=True, timeout=timeout, env=env,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{script} failed with exit code {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{script} printed no result")
    return json.loads(lines[-1])
