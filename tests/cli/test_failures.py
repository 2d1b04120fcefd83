"""Total failure is an error naming the endpoint and the cause, never a score (issue 14, rows 4,
5 and 9); a refused connection is reported as refused, not as a timeout."""

from __future__ import annotations

import socket

from promptopt.testing import ServerConfig

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)
from stderr_lines import one_line_error  # noqa: E402  (tests/cli is on sys.path through conftest)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_fails_eval_optimize_and_generate_naming_endpoint_and_cause(run_cli, home, tmp_path):
    spec = f"openai:test-model@http://127.0.0.1:{closed_port()}/v1?max_attempts=1"
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Label the sentiment as positive or negative.")
    evaluated = run_cli("eval", str(prompt), "--task", "demo_sentiment", "--model", spec, "--limit", "5", env=home)
    assert evaluated.returncode == 1
    line = one_line_error(evaluated)
    assert spec in line and "5 of 5 request(s)" in line and "Connection refused" in line and "timed out" not in line
    optimized = run_cli("optimize", "--task", "demo_sentiment", "--model", spec, "--run-dir", str(tmp_path / "run"),
                        env=home)
    assert optimized.returncode == 1 and "Connection refused" in one_line_error(optimized)
    generated = run_cli("generate", "--model", spec, "hello", env=home)
    assert generated.returncode == 1 and "(connection)" in generated.stderr and "Connection refused" in generated.stderr


def test_a_key_the_server_refuses_fails_eval_with_the_auth_cause(run_cli, server_factory, home, tmp_path):
    server = server_factory(policy=scripted.policy, config=ServerConfig(api_key="the-right-key-000"))
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Label the sentiment as positive or negative.")
    spec = f"openai:test-model@{server.base_url}"
    refused = run_cli("eval", str(prompt), "--task", "demo_sentiment", "--model", spec, "--limit", "4",
                      env={**home, "OPENAI_API_KEY": "wrong-key-1234"}, timeout=120)
    assert refused.returncode == 1
    line = one_line_error(refused)
    assert "auth ×4" in line and "401 not authorized" in line and server.base_url in line
    # with the right key the same command scores the prompt
    scored = run_cli("eval", str(prompt), "--task", "demo_sentiment", "--model", spec, "--limit", "4", "--json",
                     env={**home, "OPENAI_API_KEY": "the-right-key-000"}, timeout=120)
    assert scored.returncode == 0, scored.stderr


def test_plan_run_and_rubric_refine_whose_every_request_fails_exit_non_zero(run_cli, home, tmp_path):
    spec = f"openai:test-model@http://127.0.0.1:{closed_port()}/v1?max_attempts=1"
    planned = run_cli("plan", "run", "--agents", "capo", "--episodes", "1", "--model", spec,
                      "--out", str(tmp_path / "plan"), env=home, timeout=300)
    assert planned.returncode == 1
    line = one_line_error(planned)
    assert spec in line and "Connection refused" in line and "default actions only" in line
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text('{"uid": "brief_summary:1", "output": "A town by the sea."}\n'
                       '{"uid": "brief_summary:2", "output": "A market square."}\n')
    refined = run_cli("rubric", "refine", "--task", "brief_summary", "--outputs", str(outputs), "--model", spec,
                      "--no-cache", env=home, timeout=300)
    assert refined.returncode == 1
    line = one_line_error(refined)
    assert "every judge call failed" in line and spec in line and "Connection refused" in line
