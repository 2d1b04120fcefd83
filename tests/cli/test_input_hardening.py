"""Hostile input as one ``error:`` line naming the file or flag, before any request (issue 14,
rows 2, 6, 7 and 15): absurd sizes, JSON nested 10^5 deep, impossible artifact fields,
non-UTF-8 rubrics, an ``--out`` that is a directory, a NaN threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: Nothing listens on port 9 of loopback (discard): a command that reached the network would fail
#: with "refused" rather than with the message a case expects.
NOWHERE = "openai:test-model@http://127.0.0.1:9/v1?max_attempts=1"
DEEP = "[" * 100_000 + "]" * 100_000


def _artifact(tmp_path: Path, **changes) -> Path:
    from promptopt.artifact import Artifact
    from promptopt.prompt import Prompt
    from promptopt.tasks.registry import load_task

    data = json.loads(Artifact.build(Prompt("Tell the sentiment."), task=load_task("demo_sentiment"),
                                     model_spec=NOWHERE).to_json())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    path = tmp_path / "artifact.json"
    path.write_text(json.dumps(data))
    return path


def _file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _outputs(tmp_path: Path) -> Path:
    return _file(tmp_path, "outputs.jsonl", '{"uid": "brief_summary:1", "output": "A town."}\n')


CASES = {
    # row 2: sizes that would build millions of requests before any budget check
    "population 10^9": (lambda t: ("optimize", "--task", "demo_sentiment", "--model", NOWHERE,
                                   "--population", "1000000000", "--run-dir", str(t / "run")),
                        "'--population': Input should be less than or equal to 1000"),
    "offspring 10^9": (lambda t: ("optimize", "--task", "demo_sentiment", "--model", NOWHERE,
                                  "--offspring", "1000000000"), "'--offspring'"),
    "max-shots 10^6": (lambda t: ("bench", "--tasks", "demo_sentiment", "--model", NOWHERE, "--budget-tokens",
                                  "100", "--max-shots", "1000000"), "'--max-shots'"),
    "samples 10^9": (lambda t: ("rubric", "refine", "--task", "brief_summary", "--outputs", str(_outputs(t)),
                                "--model", NOWHERE, "--samples", "1000000000"), "'--samples'"),
    # row 6: JSON nested 10^5 deep, in every kind of file a user hands us
    "deep data file": (lambda t: ("eval", str(_file(t, "p.txt", "Label it.")), "--task",
                                  str(_file(t, "data.jsonl", '{"text": ' + DEEP + ', "label": "x"}\n')),
                                  "--input-field", "text", "--target-field", "label", "--model", NOWHERE),
                       "data.jsonl:1: invalid JSON: nested too deeply"),
    "deep artifact": (lambda t: ("eval", str(_file(t, "deep.json", DEEP)), "--task", "demo_sentiment",
                                 "--model", NOWHERE), "deep.json:1:100000: not valid JSON: nested too deeply"),
    "deep rubric": (lambda t: ("rubric", "refine", "--task", "brief_summary", "--outputs", str(_outputs(t)),
                               "--rubric", str(_file(t, "rubric.json", DEEP)), "--model", NOWHERE, "--no-cache"),
                    "rubric.json:1:100000: not valid JSON: nested too deeply"),
    "deep outputs": (lambda t: ("rubric", "refine", "--task", "brief_summary", "--outputs",
                                str(_file(t, "outs.jsonl", '{"uid": "brief_summary:1", "output": ' + DEEP + "}\n")),
                                "--model", NOWHERE, "--no-cache"), "outs.jsonl:1: invalid JSON: nested too deeply"),
    # row 7: values that cannot work
    "artifact max_tokens -5": (lambda t: ("eval", str(_artifact(t, **{"model.sampling.max_tokens": -5})),
                                          "--task", "demo_sentiment"), "field 'model.sampling.max_tokens'"),
    "artifact top_p 7": (lambda t: ("eval", str(_artifact(t, **{"model.sampling.top_p": 7})),
                                    "--task", "demo_sentiment"), "field 'model.sampling.top_p'"),
    "non-UTF-8 rubric": (lambda t: ("rubric", "refine", "--task", "brief_summary", "--outputs", str(_outputs(t)),
                                    "--rubric", str(_file(t, "latin1.json", b'{"items": "caf\xe9"}')),
                                    "--model", NOWHERE, "--no-cache"), "latin1.json: not UTF-8 text"),
    "out is a directory": (lambda t: ("optimize", "--task", "demo_sentiment", "--model", NOWHERE,
                                      "--out", str(t), "--run-dir", str(t / "run")), "--out " ),
    "rubric out is a directory": (lambda t: ("rubric", "refine", "--task", "brief_summary", "--outputs",
                                             str(_outputs(t)), "--model", NOWHERE, "--no-cache", "--out", str(t)),
                                  "is a directory: name a file"),
    # row 15: values that were accepted
    "min-score nan": (lambda t: ("eval", str(_file(t, "p.txt", "Label it.")), "--task", "demo_sentiment",
                                 "--model", NOWHERE, "--min-score", "nan"), "'--min-score': nan is not a finite number"),
    "schema_version 0": (lambda t: ("eval", str(_artifact(t, schema_version=0)), "--task", "demo_sentiment"),
                         "field 'schema_version' must be a positive integer (this promptopt writes 1), got 0"),
    "schema_version -5": (lambda t: ("eval", str(_artifact(t, schema_version=-5)), "--task", "demo_sentiment"),
                          "got -5"),
    "schema_version true": (lambda t: ("eval", str(_artifact(t, schema_version=True)), "--task", "demo_sentiment"),
                            "got true"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_line_naming_it_before_any_request(run_cli, home, tmp_path, name):
    make, words = CASES[name]
    result = run_cli(*make(tmp_path), env=home, timeout=120)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "╭" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
    assert "refused" not in lines[0]  # decided before any request


def test_out_naming_a_directory_is_refused_before_the_run_starts(run_cli, home, tmp_path, server):
    result = run_cli("optimize", "--task", "demo_sentiment", "--model", f"openai:test-model@{server.base_url}",
                     "--out", str(tmp_path), "--run-dir", str(tmp_path / "run"), env=home)
    assert result.returncode == 2 and f"--out {tmp_path} is a directory" in result.stderr
    assert server.stats().requests_total == 0 and not (tmp_path / "run").exists()


def test_a_byte_order_mark_is_not_part_of_a_text_prompt(run_cli, home, tmp_path, server):
    spec = f"openai:test-model@{server.base_url}"
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text("Label the sentiment.", encoding="utf-8")
    marked.write_text("Label the sentiment.", encoding="utf-8-sig")
    hashes = []
    for path in (plain, marked):
        result = run_cli("eval", str(path), "--task", "demo_sentiment", "--model", spec, "--limit", "2",
                         "--json", env=home)
        assert result.returncode == 0, result.stderr
        hashes.append(json.loads(result.stdout)["prompt_hash"])
    assert hashes[0] == hashes[1]


def test_an_artifact_made_for_another_task_is_scored_with_a_warning(run_cli, home, tmp_path, server):
    artifact = _artifact(tmp_path)  # made for demo_sentiment
    spec = f"openai:test-model@{server.base_url}"
    other = run_cli("eval", str(artifact), "--task", "demo_arithmetic", "--model", spec, "--limit", "2", env=home)
    assert other.returncode == 0, other.stderr
    assert f"warning: {artifact} was made for task 'demo_sentiment'; scoring it on task 'demo_arithmetic'" in other.stderr
    same = run_cli("eval", str(artifact), "--task", "demo_sentiment", "--model", spec, "--limit", "2", env=home)
    assert same.returncode == 0 and "warning" not in same.stderr, same.stderr


def test_cache_stats_on_a_new_path_creates_nothing(run_cli, home, tmp_path):
    path = tmp_path / "new" / "cache.sqlite3"
    result = run_cli("cache", "stats", "--path", str(path), "--json", env=home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entries"] == 0 and not path.exists() and not path.parent.exists()


def test_plan_run_names_its_own_flag_when_it_refuses_a_resume(run_cli, home, tmp_path):
    out = tmp_path / "plan"
    first = run_cli("plan", "run", "--agents", "greedy", "--episodes", "1", "--out", str(out), env=home)
    assert first.returncode == 0, first.stderr
    changed = run_cli("plan", "run", "--agents", "greedy", "--episodes", "1", "--rounds", "2", "--out", str(out),
                      "--resume", env=home)
    assert changed.returncode == 1 and "use a new --out" in changed.stderr and "--run-dir" not in changed.stderr


def test_tasks_lists_a_too_deep_data_folder_as_unreadable_naming_the_line(run_cli, home, tmp_path):
    (tmp_path / "dd" / "mine").mkdir(parents=True)
    (tmp_path / "dd" / "mine" / "dev.jsonl").write_text('{"input": ' + DEEP + ', "target": "a"}\n')
    (tmp_path / "dd" / "mine" / "test.jsonl").write_text('{"input": "b", "target": "a"}\n')
    result = run_cli("tasks", "--data-dir", str(tmp_path / "dd"), "--json", env=home)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    [mine] = [row for row in json.loads(result.stdout) if row["name"] == "mine"]
    assert mine["answer_format"].startswith("unreadable: ") and "dev.jsonl:1: invalid JSON: nested too deeply" in mine["answer_format"]
