"""The CLI as a user runs it: real subprocesses, a real loopback server, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAKE_KEY = "sk-fake-PROMPTOPT-LEAK-CANARY-7f3a9c"


def test_version(run_cli):
    result = run_cli("--version")
    assert result.returncode == 0
    from promptopt import __version__

    assert result.stdout.strip() == f"promptopt {__version__}"


def test_cli_import_stays_light():
    code = (
        "import sys, promptopt.cli; "
        "print(sorted(m for m in ('openai', 'litellm', 'llama_cpp', 'httpx', 'vllm', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_generate_against_server_caches_and_never_writes_the_key(run_cli, server, home, tmp_path):
    env = {**home, "OPENAI_API_KEY": FAKE_KEY}
    spec = f"openai:test-model@{server.base_url}"
    first = run_cli("generate", "--model", spec, "--json", "hello there", env=env)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["text"] == "hello there" and data["cached"] is False
    assert data["usage"]["prompt_tokens"] == 6 and data["usage"]["estimated"] is False
    assert server.stats().authorization_seen == 1

    second = run_cli("generate", "--model", spec, "--json", "hello there", env=env)
    assert json.loads(second.stdout)["cached"] is True
    assert server.stats().requests_total == 1

    stats = run_cli("cache", "stats", "--json", env=env)
    info = json.loads(stats.stdout)
    assert info["entries"] == 1
    assert Path(info["path"]).is_relative_to(Path(home["XDG_CACHE_HOME"]))

    plain = run_cli("generate", "--model", spec, "--no-cache", "hi again", env=env)
    assert plain.returncode == 0
    assert plain.stdout.strip() == "hi again"
    assert "backend-counted" in plain.stderr

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("responses.sqlite3") for p in written)
    leaks = [str(p) for p in written if FAKE_KEY.encode() in p.read_bytes()]
    assert leaks == []
    for output in (first, second, stats, plain):
        assert FAKE_KEY not in output.stdout + output.stderr


@pytest.mark.parametrize(
    "spec, needle, code",
    [
        ("nonsense:model", "unknown backend 'nonsense'", 2),  # a spec that is wrong: bad input
        ("openai:gpt-4o-mini", "OPENAI_API_KEY", 1),
        ("openai:m@http://127.0.0.1:9/v1?key_env=MY_SERVER_KEY", "MY_SERVER_KEY", 1),
        ("vllm:Qwen/Qwen2.5-0.5B-Instruct", "pip install 'promptopt[vllm]'", 1),
        ("local:/nowhere/model.gguf", "/nowhere/model.gguf", 2),
    ],
)
def test_bad_model_spec_or_missing_key_is_one_clear_line(run_cli, spec, needle, code, home):
    result = run_cli("generate", "--model", spec, "hi", env=home)
    assert result.returncode == code
    assert result.stderr.startswith("error: ")
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_cache_is_reported_and_kept_then_clear_recreates_it(run_cli, server, home, tmp_path):
    path = tmp_path / "broken.sqlite3"
    garbage = os.urandom(4096)
    path.write_bytes(garbage)
    result = run_cli("generate", "--model", f"openai:test-model@{server.base_url}", "--cache", str(path), "hi", env=home)
    assert result.returncode == 1
    assert str(path) in result.stderr and "corrupt" in result.stderr.lower()
    assert path.read_bytes() == garbage
    assert server.stats().requests_total == 0  # nothing was spent before the error

    cleared = run_cli("cache", "clear", "--path", str(path), "--json", env=home)
    assert cleared.returncode == 0, cleared.stderr
    stats = run_cli("cache", "stats", "--path", str(path), "--json", env=home)
    assert json.loads(stats.stdout)["entries"] == 0


def test_models_reports_the_embedded_model(run_cli, home):
    result = run_cli("models", "--json", env=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    local = next(row for row in report["backends"] if row["name"] == "local")
    assert local["available"] is True
    assert report["embedded_model_installed"] is True
    assert Path(local["embedded_model"]).is_file()


@pytest.mark.slow
def test_generate_with_the_embedded_model(run_cli, home):
    result = run_cli("generate", "--model", "local", "--max-tokens", "24", "Say hi", env=home, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "the embedded model replied with nothing"
    assert "backend-counted" in result.stderr


def test_plan_bench_json(run_cli, home):
    result = run_cli("plan", "bench", "--suite", "test24", "--agents", "greedy,oracle", "--json", env=home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    greedy, oracle = data["agents"]["greedy"], data["agents"]["oracle"]
    assert len(greedy["per_episode"]) == len(oracle["per_episode"]) == 24
    assert greedy["metric"] == "transport_rate"
    assert greedy["low"] <= greedy["mean"] <= greedy["high"]
    assert greedy["mean"] == pytest.approx(sum(greedy["per_episode"]) / 24)
    assert oracle["mean"] > greedy["mean"]
    table = run_cli("plan", "bench", "--suite", "test24", "--agents", "greedy", env=home)
    assert "greedy" in table.stdout and "transport_rate" in table.stdout
    bad = run_cli("plan", "bench", "--agents", "wizard", env=home)
    assert bad.returncode == 2 and "wizard" in bad.stderr


@pytest.mark.slow
def test_models_probe_runs_the_embedded_model_on_a_portable_build(run_cli, home):
    result = run_cli("models", "--json", "--check", env=home)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)["local_probe"]
    assert probe["runs_here"] is True and probe["error"] is None
    assert "AVX2 = 1" in probe["system_info"]
    # the project's install step builds llama.cpp without -march=native
    assert probe["non_portable_features"] == [] and probe["fix"] is None
    assert probe["reuses_prefix"] is True  # SmolLM2's Q4_1 rows are computed one by one
    assert probe["parallel"] == 8  # and so are the rows of a pass of 8 sequences
    text = run_cli("models", env=home)
    assert "the embedded model runs here" in text.stdout and "llama.cpp build: CPU" in text.stdout
    assert "prefix reuse: on" in text.stdout
    assert "batched decoding: 8 requests per pass, each with the logits it gets alone" in text.stdout


@pytest.mark.slow
def test_a_worker_dying_of_sigill_is_one_line_naming_the_reinstall_command(run_cli, home):
    from promptopt.llm.backends.llama_build import PORTABLE_CMAKE_ARGS
    from promptopt.llm.backends.local_worker import TEST_SIGNAL_ENV

    env = {**home, TEST_SIGNAL_ENV: "SIGILL"}
    result = run_cli("generate", "--model", "local", "Say hi", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the embedded model's worker process") and "SIGILL" in lines[0]
    assert f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}"' in lines[0] and "pip install --no-cache-dir" in lines[0]

    models = run_cli("models", "--check", env=env)
    assert models.returncode == 1
    assert "the embedded model cannot run here" in models.stdout
    assert "fix: CMAKE_ARGS=" in models.stdout
