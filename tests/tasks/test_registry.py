"""Task lookup: data directories, user files, built-in demos, and the Hugging Face mapping code."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import re
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest

from promptopt.errors import PromptoptError
from promptopt.tasks.demo import DEMO_TASKS
from promptopt.tasks.huggingface import cached_path, examples_from_files, fetch, load_hf_task
from promptopt.tasks.loaders import DataError
from promptopt.tasks.registry import (
    DATA_DIR_ENV,
    list_tasks,
    load_task,
    load_task_from_file,
    split_examples,
)
from promptopt.tasks.standard import DEFINITIONS

#: /work/shared/data: the benchmark data beside the repository (CI has it there too).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: Sizes from the data README's table: (dev, test).
SHARED_SIZES = {
    "sst2": (500, 297),
    "sst5": (500, 500),
    "subj": (500, 500),
    "agnews": (500, 500),
    "mr": (500, 500),
    "gsm8k": (500, 500),
    "bbh_sports_understanding": (125, 125),
    "bbh_date_understanding": (125, 125),
    "bbh_object_counting": (125, 125),
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No data dir from the environment, an empty download cache, and no reachable Hub."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("PROMPTOPT_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    monkeypatch.delenv("HF_TOKEN", raising=False)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# The benchmark data folder


def test_shared_data_has_the_expected_tasks() -> None:
    folders = {p.name for p in SHARED_DATA.iterdir() if p.is_dir()}
    assert folders == set(SHARED_SIZES)


@pytest.mark.parametrize("name", sorted(SHARED_SIZES))
def test_every_shared_task_loads_from_the_directory(name: str) -> None:
    task = load_task(name, data_dir=SHARED_DATA)
    assert (len(task.dev), len(task.test)) == SHARED_SIZES[name]
    assert task.source.kind == "directory" and task.source.location == str(SHARED_DATA / name)
    assert task.description and "<final_answer>" in task.description
    assert {e.uid for e in task.dev}.isdisjoint(e.uid for e in task.test)
    assert len({e.uid for e in task.dev}) == len(task.dev)
    # Every gold answer, wrapped as the model is asked to answer, parses back and scores 1.
    for example in (*task.dev, *task.test):
        parsed = task.parse(f"<final_answer>{example.target}</final_answer>")
        assert parsed.ok, (example.uid, parsed.error)
        assert task.score(parsed, example.target) == 1.0, example.uid
        if task.labels is not None:
            assert parsed.value == example.target


def test_shared_tasks_use_the_expected_answer_formats() -> None:
    kinds = {name: load_task(name, data_dir=SHARED_DATA).parser.spec()["kind"] for name in SHARED_SIZES}
    assert kinds == {
        "sst2": "label",
        "sst5": "label",
        "subj": "label",
        "agnews": "label",
        "mr": "label",
        "gsm8k": "number",
        "bbh_sports_understanding": "label",
        "bbh_date_understanding": "choice",
        "bbh_object_counting": "number",
    }
    assert load_task("agnews", data_dir=SHARED_DATA).labels == ("World", "Sports", "Business", "Tech")
    assert load_task("gsm8k", data_dir=SHARED_DATA).metric.name == "numeric_match"


def test_data_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(SHARED_DATA))
    task = load_task("sst2")
    assert (len(task.dev), len(task.test)) == (500, 297)
    assert {info.name for info in list_tasks()} >= set(SHARED_SIZES)


def test_list_tasks_shows_every_shared_task_with_size_and_source() -> None:
    infos = {info.name: info for info in list_tasks(SHARED_DATA)}
    for name, (dev, test) in SHARED_SIZES.items():
        info = infos[name]
        assert (info.dev_size, info.test_size) == (dev, test)
        assert info.size == f"{dev}/{test}"
        assert info.source == f"directory: {SHARED_DATA / name}"
    assert infos["sst5"].answer_format == "label: terrible / bad / okay / good / great"
    assert infos["gsm8k"].answer_format == "number"
    assert infos["bbh_date_understanding"].answer_format.startswith("choice: (A)")
    # Built-in demos and tasks only the Hub has are listed too.
    assert infos["demo_sentiment"].source == "builtin"
    assert infos["trec"].source.startswith("huggingface: CogComp/trec")


def test_list_tasks_without_data_dir() -> None:
    infos = {info.name: info for info in list_tasks()}
    assert infos["demo_sentiment"].size == "100/50"
    assert infos["sst2"].source == "huggingface: stanfordnlp/sst2@main"
    assert set(infos) >= set(DEFINITIONS) | set(DEMO_TASKS)


# --------------------------------------------------------------------------------------------
# Unknown folders, missing data, name resolution


def test_unknown_folder_gets_inferred_fields_and_labels(tmp_path: Path) -> None:
    shutil.copytree(SHARED_DATA / "sst2", tmp_path / "my_sentiment")
    write_jsonl(tmp_path / "my_math" / "dev.jsonl", [{"question": f"q{i}", "answer": i} for i in range(30)])
    write_jsonl(tmp_path / "my_math" / "test.jsonl", [{"question": "q", "answer": 3}])
    task = load_task("my_sentiment", data_dir=tmp_path)
    assert (task.input_fields, task.target_field) == (("text",), "label")
    assert task.labels == ("negative", "positive")
    assert task.parser.spec()["kind"] == "label" and task.metric.name == "accuracy"
    math = load_task("my_math", data_dir=tmp_path)
    assert (math.input_fields, math.target_field, math.labels) == (("question",), "answer", None)
    assert math.parser.spec()["kind"] == "number" and math.metric.name == "numeric_match"
    infos = {info.name: info for info in list_tasks(tmp_path)}
    assert infos["my_sentiment"].size == "500/297"
    assert infos["my_sentiment"].answer_format == "label: negative / positive"
    assert infos["my_math"].answer_format == "number"


def test_unknown_folder_with_unusual_fields_says_what_to_do(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "odd" / "dev.jsonl", [{"prompt": "x", "completion": "y"}])
    write_jsonl(tmp_path / "odd" / "test.jsonl", [{"prompt": "x", "completion": "y"}])
    with pytest.raises(DataError, match="cannot tell the input field.*--input-field"):
        load_task("odd", data_dir=tmp_path)
    (info,) = [i for i in list_tasks(tmp_path) if i.name == "odd"]
    assert info.answer_format.startswith("unreadable:")


def test_missing_task_folder_or_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(PromptoptError) as info:
        load_task("sst2", data_dir=tmp_path)
    assert str(tmp_path / "sst2" / "dev.jsonl") in str(info.value)
    assert "test.jsonl" in str(info.value)
    write_jsonl(tmp_path / "sst2" / "dev.jsonl", [{"text": "a", "label": "positive"}])
    with pytest.raises(PromptoptError, match="file is missing") as info:
        load_task("sst2", data_dir=tmp_path)
    assert str(info.value).startswith(f"Task 'sst2': {tmp_path / 'sst2' / 'test.jsonl'} not found")


def test_missing_data_dir_names_its_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PromptoptError, match="--data-dir"):
        load_task("sst2", data_dir=tmp_path / "nowhere")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(PromptoptError, match=DATA_DIR_ENV):
        load_task("sst2")


def test_bad_label_in_a_standard_folder_is_reported(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "sst2" / "dev.jsonl", [{"text": "a", "label": "positive"}, {"text": "b", "label": "pos"}])
    write_jsonl(tmp_path / "sst2" / "test.jsonl", [{"text": "a", "label": "positive"}])
    with pytest.raises(DataError) as info:
        load_task("sst2", data_dir=tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'sst2' / 'dev.jsonl'}:2: field 'label': value 'pos' is not in the label set "
        "(negative, positive)"
    )


def test_demo_name_falls_through_a_data_dir(tmp_path: Path) -> None:
    task = load_task("demo_sentiment", data_dir=tmp_path)
    assert task.source.kind == "builtin"


def test_unknown_name_lists_known_tasks() -> None:
    with pytest.raises(PromptoptError, match=r"Unknown task 'nope'.*demo_sentiment.*sst2"):
        load_task("nope")


# --------------------------------------------------------------------------------------------
# A user's own file


def _reviews_csv(path: Path, n: int = 50) -> Path:
    lines = ["review,stars"] + [f"review number {i},{['bad', 'good', 'great'][i % 3]}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_file_task_infers_labels_and_splits_70_30(tmp_path: Path) -> None:
    path = _reviews_csv(tmp_path / "reviews.csv")
    task = load_task_from_file(path, input_fields=["review"], target_field="stars")
    assert task.name == "reviews"
    assert task.labels == ("bad", "good", "great")
    assert task.parser.spec() == {"kind": "label", "labels": ["bad", "good", "great"], "aliases": {}, "tag": "final_answer"}
    assert task.metric.name == "accuracy"
    assert (len(task.dev), len(task.test)) == (35, 15)
    assert {e.uid for e in task.dev}.isdisjoint(e.uid for e in task.test)
    assert {e.uid for e in (*task.dev, *task.test)} == {f"reviews:{i}" for i in range(2, 52)}
    assert task.source.kind == "file" and task.source.extra["split"] == "70/30 seed 0"
    assert "<final_answer>" in task.description


def test_file_split_is_deterministic_per_seed(tmp_path: Path) -> None:
    path = _reviews_csv(tmp_path / "reviews.csv")
    load = functools.partial(load_task_from_file, path, input_fields=["review"], target_field="stars")
    assert load().test == load().test and load(seed=7).dev == load(seed=7).dev
    assert load(seed=7).test != load().test
    half = load(test_fraction=0.5)
    assert (len(half.dev), len(half.test)) == (25, 25)


def test_split_examples_edge_cases() -> None:
    with pytest.raises(PromptoptError, match="at least 2"):
        split_examples([], test_fraction=0.3)
    with pytest.raises(PromptoptError, match="between 0 and 1"):
        split_examples([], test_fraction=1.0)


def test_file_task_free_text_and_numbers(tmp_path: Path) -> None:
    text = write_jsonl(tmp_path / "qa.jsonl", [{"q": f"capital {i}?", "a": f"City {i}"} for i in range(30)])
    task = load_task_from_file(text, input_fields=["q"], target_field="a")
    assert task.labels is None and task.parser.spec()["kind"] == "exact"
    assert task.metric.name == "exact_match"
    nums = write_jsonl(tmp_path / "nums.jsonl", [{"q": f"{i}+1?", "a": i + 1} for i in range(30)])
    task = load_task_from_file(nums, input_fields=["q"], target_field="a")
    assert task.parser.spec()["kind"] == "number" and task.metric.name == "numeric_match"


def test_file_task_with_given_labels_parser_metric_and_test_file(tmp_path: Path) -> None:
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": "x", "label": "yes"}, {"text": "y", "label": "no"}])
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "z", "label": "maybe"}])
    with pytest.raises(DataError, match="test.jsonl:1: field 'label': value 'maybe'"):
        load_task_from_file(dev, input_fields=["text"], target_field="label", labels=["yes", "no"], test_path=test)
    write_jsonl(test, [{"text": "z", "label": "no"}])
    task = load_task_from_file(
        dev,
        input_fields=["text"],
        target_field="label",
        labels=["yes", "no"],
        test_path=test,
        parser={"kind": "exact"},
        metric="exact_match",
        name="mine",
    )
    assert (task.name, len(task.dev), len(task.test)) == ("mine", 2, 1)
    assert task.labels == ("yes", "no")
    assert task.parser.spec()["kind"] == "exact" and task.metric.name == "exact_match"


# --------------------------------------------------------------------------------------------
# Built-in demo


def test_demo_sentiment_loads_offline() -> None:
    task = load_task("demo_sentiment")
    assert (len(task.dev), len(task.test)) == (DEMO_TASKS["demo_sentiment"].dev_size, 50) == (100, 50)
    assert task.source.kind == "builtin"
    for split in (task.dev, task.test):
        counts = {label: sum(e.target == label for e in split) for label in ("negative", "positive")}
        assert counts["negative"] == counts["positive"] == len(split) // 2
    texts = [e.inputs["text"] for e in (*task.dev, *task.test)]
    assert len(set(texts)) == len(texts)
    assert load_task("demo_sentiment") == task  # deterministic
    for example in task.dev:
        parsed = task.parse(f"<final_answer>{example.target}</final_answer>")
        assert parsed.value == example.target


def test_demo_arithmetic_answers_are_right() -> None:
    task = load_task("demo_arithmetic")
    assert (len(task.dev), len(task.test)) == (100, 50)
    for example in task.dev[:20]:
        question = example.inputs["question"]
        a, b = (int(n) for n in re.findall(r"\d+", question))
        expected = a + b if "more" in question else a - b
        assert example.target == str(expected)


# --------------------------------------------------------------------------------------------
# Hugging Face: mapping code on local files standing in for downloads


def _parquet():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return pa, pq


needs_pyarrow = pytest.mark.skipif(_parquet() is None, reason="pyarrow is not installed")


def _put_parquet(path: Path, columns: dict[str, list[object]]) -> None:
    pa, pq = _parquet()
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


@needs_pyarrow
def test_hf_route_maps_a_cached_parquet_file() -> None:
    definition = DEFINITIONS["sst2"]
    source = definition.hf
    assert source is not None
    _put_parquet(
        cached_path(source, "train"),
        {"idx": [0, 1, 2], "sentence": ["lovely film ", "dull", "a gem"], "label": [1, 0, 1]},
    )
    _put_parquet(cached_path(source, "validation"), {"idx": [0, 1], "sentence": ["meh", "great"], "label": [0, 1]})
    task = load_task("sst2")  # no data dir: the Hub route, served from the cache
    assert [(e.inputs["text"], e.target) for e in task.dev] == [
        ("lovely film ", "positive"),
        ("dull", "negative"),
        ("a gem", "positive"),
    ]
    assert [e.target for e in task.test] == ["negative", "positive"]
    assert [e.uid for e in task.test] == ["sst2/validation:1", "sst2/validation:2"]
    assert task.source.kind == "huggingface" and task.source.location == "stanfordnlp/sst2@main"


@needs_pyarrow
def test_hf_gsm8k_answer_after_hashes_and_sampling(tmp_path: Path) -> None:
    definition = DEFINITIONS["gsm8k"]
    n = 12
    train = tmp_path / "train.parquet"
    _put_parquet(
        train,
        {"question": [f"q{i}" for i in range(n)], "answer": [f"work...\n#### {1000 * i:,}" for i in range(n)]},
    )
    test = tmp_path / "test.parquet"
    _put_parquet(test, {"question": ["t"], "answer": ["so #### 7"]})
    assert definition.hf is not None
    small = dataclasses.replace(definition, hf=dataclasses.replace(definition.hf, dev_size=5))
    dev, held_out = examples_from_files(small, train, test)
    assert len(dev) == 5 and [e.target for e in held_out] == ["7"]
    assert all(e.target == str(1000 * int(e.inputs["question"][1:])) for e in dev)
    again, _ = examples_from_files(small, train, test)
    assert again == dev  # seeded sample


def test_hf_bbh_carves_dev_and_test_from_one_jsonl_split(tmp_path: Path) -> None:
    definition = DEFINITIONS["bbh_sports_understanding"]
    path = write_jsonl(
        tmp_path / "bbh.jsonl",
        [{"input": f"Is sentence {i} plausible?", "target": ["yes", "no"][i % 2]} for i in range(11)],
    )
    dev, test = examples_from_files(definition, path, None)
    assert (len(dev), len(test)) == (5, 6)
    assert {e.uid for e in dev}.isdisjoint(e.uid for e in test)
    assert dev[0].inputs.keys() == {"question"} and dev[0].uid.startswith("bbh_sports_understanding/test:")


def test_hf_mapping_errors_name_file_row_and_column(tmp_path: Path) -> None:
    definition = DEFINITIONS["sst5"]  # SetFit/sst5 ships JSONL files
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": "ok", "label": 2}, {"text": "?", "label": 9}])
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "x", "label": 4}])
    with pytest.raises(DataError, match=r"train.jsonl:2: field 'label': value '9' has no label mapping"):
        examples_from_files(definition, path, test)
    write_jsonl(path, [{"text": "ok", "label": 2}])
    dev, held_out = examples_from_files(definition, path, test)
    assert [e.target for e in (*dev, *held_out)] == ["okay", "great"]
    write_jsonl(path, [{"sentence": "ok", "label": 2}])
    with pytest.raises(DataError, match="field 'text': missing; the record has: sentence, label"):
        examples_from_files(definition, path, test)


class _FileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server serving files from a folder laid out like the Hub's URLs."""
    root = tmp_path / "hub"
    root.mkdir()
    handler = functools.partial(_FileHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_downloads_once_into_the_cache(hub: tuple[str, Path], tmp_path: Path) -> None:
    endpoint, root = hub
    definition = DEFINITIONS["bbh_sports_understanding"]
    source = definition.hf
    assert source is not None
    # The revision is URL-quoted ("refs%2Fconvert%2Fparquet"); the file server unquotes it.
    served = root / "datasets" / source.repo / "resolve" / source.revision / source.file_for("test")
    write_jsonl(served, [{"input": "q", "target": "yes"}])
    cache = tmp_path / "cache"
    path = fetch(source, "test", task_name=definition.name, cache_dir=cache, endpoint=endpoint)
    assert path == cached_path(source, "test", cache_dir=cache)
    assert path.read_bytes() == served.read_bytes()
    served.unlink()  # a second fetch must not need the server
    assert fetch(source, "test", task_name=definition.name, cache_dir=cache, endpoint=endpoint) == path
    assert not list(path.parent.glob("*.part"))


def test_fetch_http_error_and_unreachable_hub_suggest_a_data_dir(hub: tuple[str, Path], tmp_path: Path) -> None:
    endpoint, _ = hub
    with pytest.raises(PromptoptError, match=r"HTTP 404.*--data-dir.*PROMPTOPT_DATA_DIR") as info:
        load_hf_task(DEFINITIONS["trec"], cache_dir=tmp_path / "c", endpoint=endpoint)
    assert "Could not fetch the data of task 'trec'" in str(info.value)
    with pytest.raises(PromptoptError, match=r"Could not fetch.*network.*--data-dir.*PROMPTOPT_DATA_DIR"):
        load_task("trec")  # HF_ENDPOINT points at a closed port
    assert not (tmp_path / "hf-cache").exists() or not list((tmp_path / "hf-cache").rglob("*.parquet"))
