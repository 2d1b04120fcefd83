"""Artifacts: byte-stable files, validation, data-only loading, and use in an application."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import promptopt
from promptopt.artifact import Artifact, ArtifactError, ProvenanceRecord, ScoreRecord, TokenLengthRecord
from promptopt.llm.records import Sampling
from promptopt.prompt import FewShot, Prompt
from promptopt.tasks.metrics import Accuracy
from promptopt.tasks.parsers import LabelParser
from promptopt.tasks.records import Example, SourceInfo
from promptopt.tasks.task import Task
from promptopt.testing import policies


def make_task() -> Task:
    dev = tuple(Example({"text": f"t{i}"}, "positive" if i % 2 else "negative", f"d:{i}") for i in range(6))
    return Task(
        name="toy", description="Classify sentiment.", input_fields=("text",), target_field="label",
        parser=LabelParser(labels=("negative", "positive")), metric=Accuracy(), dev=dev, test=dev[:2],
        source=SourceInfo("builtin", "test"), labels=("negative", "positive"),
    )


def make_artifact() -> Artifact:
    prompt = Prompt("Classify the sentiment. Answer in <final_answer> tags.",
                    (FewShot("lovely", "<final_answer>positive</final_answer>"),))
    return Artifact.build(
        prompt, task=make_task(), model_spec="local", sampling=Sampling(max_tokens=32, temperature=0.1),
        scores=[ScoreRecord(split="dev", metric="accuracy", n=6, value=0.5, low=0.188, high=0.812)],
        token_length=TokenLengthRecord(value=21, method="model tokenizer (llama.cpp)"),
        provenance=ProvenanceRecord(optimizer="capo", run_id="r1", generation=3, seed=42, parents=["ab", "cd"]),
    )


def test_save_load_save_is_byte_identical(tmp_path):
    first = make_artifact().save(tmp_path / "a.json")
    text = first.read_bytes()
    assert text.endswith(b"}\n")
    data = json.loads(text)
    assert list(data) == sorted(data)  # stable key order
    assert data["schema_version"] == 1 and data["promptopt_version"] == promptopt.__version__
    again = Artifact.load(first).save(tmp_path / "b.json")
    assert again.read_bytes() == text


def test_unexpected_fields_and_code_like_strings_are_only_data(tmp_path):
    data = json.loads(make_artifact().to_json())
    sneaky = "__import__('os').system('touch PWNED')"
    data["post_load_hook"] = sneaky
    data["prompt"]["instruction"] = "{__import__('os').system('touch PWNED')} Classify."
    data["prompt"]["examples"][0]["output"] = "!!python/object/apply:os.system ['touch PWNED']"
    data["parser"]["labels"] = ["negative", sneaky]
    data["provenance"]["details"] = {"eval": sneaky}
    path = tmp_path / "sneaky.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    loaded = promptopt.load(path)
    messages = loaded.messages("hello")
    assert messages[1]["content"].startswith("{__import__('os').system('touch PWNED')} Classify.")
    assert loaded.parse(f"<final_answer>{sneaky}</final_answer>").value == sneaky
    assert loaded.artifact.model_extra["post_load_hook"] == sneaky
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    # unknown fields survive a round trip as data
    resaved = loaded.artifact.save(tmp_path / "resaved.json")
    assert json.loads(resaved.read_text())["post_load_hook"] == sneaky


def test_input_template_cannot_reach_attributes(tmp_path):
    data = json.loads(make_artifact().to_json())
    data["task"]["input_template"] = "{text.__class__.__mro__}"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="task.input_template"):
        promptopt.load(path)


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda d: d.update(schema_version=2), "newer promptopt"),
        (lambda d: d.pop("schema_version"), "schema_version"),
        (lambda d: d["prompt"].pop("instruction"), "field 'prompt.instruction'"),
        (lambda d: d.update(renderer="xml"), "unknown renderer 'xml'"),
        (lambda d: d.update(parser={"kind": "telepathy"}), "telepathy"),
        (lambda d: d["scores"][0].update(n="many"), "field 'scores.0.n'"),
    ],
)
def test_invalid_artifacts_give_clear_errors(tmp_path, mutate, needle):
    data = json.loads(make_artifact().to_json())
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError) as info:
        Artifact.load(path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_not_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "schema_version": 1,\n  oops\n}\n')
    with pytest.raises(ArtifactError, match=r"broken.json:3:3: not valid JSON"):
        Artifact.load(path)
    with pytest.raises(ArtifactError, match="no such artifact"):
        Artifact.load(tmp_path / "missing.json")


def test_loaded_prompt_runs_on_a_model(server_factory, tmp_path):
    server = server_factory(policy=policies.scripted([(r"great", "Sure! <final_answer>positive</final_answer>")],
                                                     default="<final_answer>negative</final_answer>"))
    path = make_artifact().save(tmp_path / "a.json")
    loaded = promptopt.load(path)
    request = loaded.request("a great day")
    assert request.max_tokens == 32 and request.temperature == 0.1
    run = asyncio.run(loaded.arun("a great day", model=f"openai:test-model@{server.base_url}"))
    assert run.value == "positive" and run.response.ok
    assert loaded.run({"text": "rain again"}, model=f"openai:test-model@{server.base_url}").value == "negative"
    with pytest.raises(KeyError, match="missing input field"):
        loaded.messages({"body": "x"})
