"""No secret the process knows is printed or written: not a key a server echoes back in its 401,
not credentials inside a base URL (issue 14, rows 3 and 10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from promptopt.testing import ServerConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "optimizers"))
import scripted  # noqa: E402

KEY = "sk-live-Q7rT2mXw9bLk4Zp0"  # what the user's environment holds (wrong for this server)
PASSWORD = "pa55-Hunter2-zzq"
SMALL = ["--optimizer", "opro", "--max-generations", "1", "--population", "2", "--offspring", "2",
         "--dev-size", "8", "--block-size", "4", "--max-tokens", "16"]


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def assert_nowhere(secret: str, results, roots) -> None:
    for result in results:
        assert secret not in result.stdout and secret not in result.stderr, result.stderr
    leaked = [str(p) for p in files_under(*roots) if secret.encode() in p.read_bytes()]
    assert leaked == []


def test_a_key_the_server_echoes_in_its_401_is_never_printed_or_stored(run_cli, server_factory, home, tmp_path):
    server = server_factory(policy=scripted.policy, config=ServerConfig(api_key="the-right-key-000"))
    env = {**home, "LLM_AUTH": KEY}  # a variable name that does not look secret: key_env marks it
    spec = f"openai:test-model@{server.base_url}?key_env=LLM_AUTH&max_attempts=1"
    results = [
        run_cli("generate", "--model", spec, "hello", env=env),
        run_cli("generate", "--model", spec, "--json", "hello", env=env),
        run_cli("optimize", "--task", "demo_sentiment", "--model", spec, *SMALL, "--run-dir", str(tmp_path / "run"),
                "--out", str(tmp_path / "best.json"), env=env, timeout=300),
    ]
    assert server.stats().by_status.get(401, 0) >= 3  # the echo really happened
    for result in results:
        assert result.returncode != 0
    assert "Incorrect API key provided: Bearer ***" in results[0].stderr
    assert_nowhere(KEY, results, [tmp_path])


def test_url_credentials_reach_the_server_but_no_file_or_stream(run_cli, server_factory, home, tmp_path):
    server = server_factory(policy=scripted.policy)
    host = server.base_url.split("://", 1)[1]
    spec = f"openai:test-model@http://admin:{PASSWORD}@{host}"
    run_dir, out = tmp_path / "run", tmp_path / "best.json"
    result = run_cli("optimize", "--task", "demo_sentiment", "--model", spec, *SMALL, "--run-dir", str(run_dir),
                     "--out", str(out), "--json", env=home, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("carries credentials") == 1
    assert_nowhere(PASSWORD, [result], [tmp_path])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == f"openai:test-model@http://***@{host}"
    assert json.loads(out.read_text())["prompt"]["instruction"]
    # the run resumes: the stored (masked) spec matches the one given again
    again = run_cli("optimize", "--task", "demo_sentiment", "--model", spec, *SMALL, "--run-dir", str(run_dir),
                    "--resume", "--json", env=home, timeout=300)
    assert again.returncode == 0, again.stderr
    assert_nowhere(PASSWORD, [again], [tmp_path])


@pytest.mark.parametrize("text, masked", [
    ("Incorrect API key provided: Bearer sk-live-Q7rT2mXw9bLk4Zp0", "Incorrect API key provided: Bearer ***"),
    ("see http://u:p4ss@host:8000/v1 and https://x@y/z", "see http://***@host:8000/v1 and https://***@y/z"),
    ("mail admin@example.com about it", "mail admin@example.com about it"),
])
def test_redact_masks_known_secrets_and_url_userinfo(text, masked, monkeypatch):
    from promptopt.redact import redact

    monkeypatch.setenv("SOME_SERVICE_API_KEY", KEY)
    assert redact(text) == masked
