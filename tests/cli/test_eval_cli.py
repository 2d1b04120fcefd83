"""`promptopt tasks`, `eval` and `compare` as a user runs them: subprocesses, real files, a real
loopback server, the shared benchmark data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptopt.testing import policies


SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED_TASKS = {
    "sst2": (500, 297), "sst5": (500, 500), "subj": (500, 500), "agnews": (500, 500), "mr": (500, 500),
    "gsm8k": (500, 500), "bbh_sports_understanding": (125, 125), "bbh_date_understanding": (125, 125),
    "bbh_object_counting": (125, 125),
}


def sentiment_policy():
    """Answers 'negative' when the input mentions a word of dislike, else 'positive'."""

    def policy(request):
        text = request.messages[-1][1].rsplit("Input:", 1)[-1].lower()
        bad = any(w in text for w in ("bad", "dull", "worst", "boring", "n't", "not", "fails", "mess"))
        return f"<final_answer>{'negative' if bad else 'positive'}</final_answer>"

    return policy


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompt.txt"
    path.write_text("Classify the sentiment of the review. Answer in <final_answer></final_answer> tags.\n")
    return path


def test_tasks_lists_every_shared_task(run_cli, home):
    result = run_cli("tasks", "--data-dir", str(SHARED_DATA), "--json", env=home)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name, (dev, test) in SHARED_TASKS.items():
        assert (rows[name]["dev_size"], rows[name]["test_size"]) == (dev, test)
        assert rows[name]["source"].startswith("directory:")
    assert rows["demo_sentiment"]["source"] == "builtin"
    env_route = run_cli("tasks", "--json", env={**home, "PROMPTOPT_DATA_DIR": str(SHARED_DATA)})
    assert {row["name"] for row in json.loads(env_route.stdout)} >= set(SHARED_TASKS)
    table = run_cli("tasks", "--data-dir", str(SHARED_DATA), env={**home, "COLUMNS": "200"})
    assert "bbh_date_understanding" in table.stdout and "(A)" in table.stdout


def test_eval_prints_score_interval_tokens_and_is_cached(run_cli, server_factory, home, prompt_file):
    server = server_factory(policy=sentiment_policy())
    spec = f"openai:test-model@{server.base_url}"
    args = ("eval", str(prompt_file), "--task", "sst2", "--data-dir", str(SHARED_DATA), "--split", "dev",
            "--limit", "60", "--model", spec)
    first = run_cli(*args, env=home)
    assert first.returncode == 0, first.stderr
    assert "accuracy" in first.stdout and "95% CI" in first.stdout and "tokens" in first.stdout
    assert server.stats().requests_total == 60

    again = run_cli(*args, "--json", env=home)
    data = json.loads(again.stdout)
    assert server.stats().requests_total == 60  # every answer came from the cache
    assert data["cached"] == 60 and data["prompt_tokens"] == 0 and data["n"] == 60
    assert data["low"] <= data["score"] <= data["high"]
    assert data["usage"]["requests"] == 0 and data["usage"]["cache_hits"] == 60

    gate = run_cli(*args, "--min-score", "1.01", env=home)
    assert gate.returncode == 1 and "below --min-score" in gate.stderr
    passing = run_cli(*args, "--min-score", str(data["score"]), env=home)
    assert passing.returncode == 0


def test_eval_of_an_artifact_and_compare(run_cli, server_factory, home, prompt_file, tmp_path):
    from promptopt.artifact import Artifact
    from promptopt.prompt import Prompt
    from promptopt.tasks.registry import load_task

    server = server_factory(policy=sentiment_policy())
    spec = f"openai:test-model@{server.base_url}"
    task = load_task("sst2", data_dir=SHARED_DATA)
    artifact = Artifact.build(Prompt("Tell me the sentiment."), task=task, model_spec=spec)
    path = artifact.save(tmp_path / "sentiment.json")
    result = run_cli("eval", str(path), "--task", "sst2", "--data-dir", str(SHARED_DATA), "--limit", "20", "--json", env=home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == spec  # the artifact's own model

    always = tmp_path / "always.txt"
    always.write_text("Say positive.")
    server.set_policy(policies.scripted([(r"Say positive", "<final_answer>positive</final_answer>")],
                                        default=sentiment_policy()))
    compared = run_cli("compare", str(prompt_file), str(always), "--task", "sst2", "--data-dir", str(SHARED_DATA),
                       "--limit", "40", "--model", spec, "--json", env=home)
    assert compared.returncode == 0, compared.stderr
    data = json.loads(compared.stdout)
    assert data["n"] == 40 and data["difference"] == pytest.approx(data["a"]["score"] - data["b"]["score"])
    assert 0.0 <= data["p_mcnemar"] <= 1.0 and data["low"] <= data["difference"] <= data["high"]
    text = run_cli("compare", str(prompt_file), str(always), "--task", "sst2", "--data-dir", str(SHARED_DATA),
                   "--limit", "40", "--model", spec, env=home)
    assert "McNemar" in text.stdout and "A - B" in text.stdout


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _good(i: int) -> str:
    return json.dumps({"text": f"review {i}", "label": "positive" if i % 2 else "negative"})


@pytest.mark.parametrize(
    "name, make, needles",
    [
        ("malformed", lambda p: _write(p, [_good(i) for i in range(36)] + ['{"text": "x", "label": ', _good(99)]),
         ["bad.jsonl:37", "JSON"]),
        ("missing field", lambda p: _write(p, [_good(0), json.dumps({"text": "no label here"})]), [":2", "'label'"]),
        ("empty", lambda p: _write(p, []), ["bad.jsonl", "no examples"]),
        ("not utf-8", lambda p: p.write_bytes((_good(0) + "\n").encode() + b'{"text": "caf\xe9", "label": "positive"}\n'),
         [":2", "UTF-8"]),
    ],
)
def test_bad_data_files_exit_2_naming_file_line_and_field(run_cli, home, prompt_file, tmp_path, name, make, needles):
    path = tmp_path / "bad.jsonl"
    make(path)
    result = run_cli("eval", str(prompt_file), "--task", str(path), "--input-field", "text", "--target-field", "label",
                     "--model", "openai:m@http://127.0.0.1:9/v1", env=home)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_label_outside_the_label_set_in_a_data_dir(run_cli, home, prompt_file, tmp_path):
    folder = tmp_path / "data" / "sst2"
    folder.mkdir(parents=True)
    _write(folder / "dev.jsonl", [_good(0), _good(1), json.dumps({"text": "so-so", "label": "meh"})])
    _write(folder / "test.jsonl", [_good(2)])
    result = run_cli("eval", str(prompt_file), "--task", "sst2", "--data-dir", str(tmp_path / "data"),
                     "--model", "openai:m@http://127.0.0.1:9/v1", env=home)
    assert result.returncode == 2
    assert "dev.jsonl:3" in result.stderr and "'label'" in result.stderr and "meh" in result.stderr


def test_unknown_task_and_missing_fields_are_usage_errors(run_cli, home, prompt_file, tmp_path):
    unknown = run_cli("eval", str(prompt_file), "--task", "nope", "--data-dir", str(SHARED_DATA), env=home)
    assert unknown.returncode != 0 and "nope" in unknown.stderr and "Traceback" not in unknown.stderr
    data = _write(tmp_path / "mine.jsonl", [_good(i) for i in range(10)])
    no_fields = run_cli("eval", str(prompt_file), "--task", str(data), env=home)
    assert no_fields.returncode == 2 and "--input-field" in no_fields.stderr


@pytest.mark.slow
@pytest.mark.timeout(1200)  # about 70 s alone on 2 cores; much more when the machine is busy
def test_eval_with_the_embedded_model_on_200_sst2_examples(run_cli, home, prompt_file):
    args = ("eval", str(prompt_file), "--task", "sst2", "--data-dir", str(SHARED_DATA), "--split", "dev",
            "--limit", "200", "--model", "local", "--max-tokens", "12", "--json")
    first = run_cli(*args, env=home, timeout=900)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["n"] == 200 and data["cached"] == 0 and data["prompt_tokens"] > 0
    assert 0.0 <= data["low"] <= data["score"] <= data["high"] <= 1.0
    print(f"embedded model, sst2 dev[:200]: {data['score']:.3f} [{data['low']:.3f}, {data['high']:.3f}], "
          f"{data['parse_failures']} parse failures, {data['prompt_tokens']}+{data['completion_tokens']} tokens")
    again = run_cli(*args, env=home, timeout=300)
    repeat = json.loads(again.stdout)
    assert repeat["cached"] == 200 and repeat["usage"]["requests"] == 0  # no model call
    assert repeat["score"] == data["score"]
