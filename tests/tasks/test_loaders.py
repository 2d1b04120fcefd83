"""Loading examples from JSONL, CSV and Parquet: field mapping, and errors naming file/line/field."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from promptopt.errors import MissingExtraError, PromptoptError
from promptopt.tasks.loaders import (
    DataError,
    detect_format,
    infer_label_set,
    infer_labels,
    load_examples,
    read_records,
)

LABELS = ("negative", "positive")


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def sentiment_rows(n: int) -> list[dict[str, str]]:
    return [{"text": f"review {i}", "label": LABELS[i % 2]} for i in range(n)]


def load_sentiment(path: Path, **kwargs: object) -> list:
    return load_examples(path, input_fields=["text"], target_field="label", **kwargs)


# --------------------------------------------------------------------------------------------
# JSONL


def test_jsonl_maps_fields_and_gives_stable_uids(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    path.write_text(
        '{"text": "good", "label": "positive", "extra": 1}\n\n'
        '{"text": "bad", "label": " negative "}\n',
        encoding="utf-8",
    )
    examples = load_sentiment(path, labels=LABELS)
    assert [(e.inputs, e.target) for e in examples] == [
        ({"text": "good"}, "positive"),
        ({"text": "bad"}, "negative"),  # target stripped
    ]
    assert [e.uid for e in examples] == ["reviews:1", "reviews:3"]  # blank line 2 skipped
    assert [e.uid for e in load_sentiment(path, id_prefix="sst")] == ["sst:1", "sst:3"]
    assert load_sentiment(path) == examples  # same file, same examples and uids


def test_jsonl_converts_numbers_to_strings(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "math.jsonl",
        [
            {"question": "q1", "answer": 24},
            {"question": "q2", "answer": 2.5},
            {"question": "q3", "answer": 7.0},
            {"question": 12, "answer": "-3"},
        ],
    )
    examples = load_examples(path, input_fields=["question"], target_field="answer")
    assert [e.target for e in examples] == ["24", "2.5", "7", "-3"]
    assert examples[3].inputs == {"question": "12"}


def test_jsonl_malformed_json_names_line_37(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    lines = [json.dumps(row) for row in sentiment_rows(40)]
    lines[36] = '{"text": "broken", "label": "positive"'  # line 37, no closing brace
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_sentiment(path)
    err = info.value
    assert err.line == 37 and err.path == str(path)
    assert str(err).startswith(f"{path}:37: invalid JSON")


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "positive"}\n["text", "label"]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r":2: expected a JSON object per line, got list") as info:
        load_sentiment(path)
    assert info.value.line == 2


def test_missing_field_names_the_field_and_the_fields_present(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "data.jsonl",
        [{"text": "a", "label": "positive"}, {"text": "b", "sentiment": "negative"}],
    )
    with pytest.raises(DataError) as info:
        load_sentiment(path)
    err = info.value
    assert (err.line, err.field) == (2, "label")
    assert str(err) == f"{path}:2: field 'label': missing; the record has: text, sentiment"


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_has_no_examples(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="no examples") as info:
        load_sentiment(path)
    assert info.value.path == str(path)


def test_label_outside_the_label_set(tmp_path: Path) -> None:
    rows = sentiment_rows(3) + [{"text": "so-so", "label": "meh"}]
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(DataError) as info:
        load_sentiment(path, labels=LABELS)
    assert str(info.value) == (
        f"{path}:4: field 'label': value 'meh' is not in the label set (negative, positive)"
    )
    assert (info.value.line, info.value.field) == (4, "label")


@pytest.mark.parametrize("value", [None, ["a"], {"x": 1}])
def test_null_or_structured_value_is_an_error(tmp_path: Path, value: object) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [{"text": value, "label": "positive"}])
    with pytest.raises(DataError, match=r":1: field 'text': value is") as info:
        load_sentiment(path)
    assert info.value.field == "text"


def test_empty_target_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [{"text": "a", "label": "  "}])
    with pytest.raises(DataError, match=r":1: field 'label': empty target"):
        load_sentiment(path)


def test_non_utf8_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    good = '{"text": "fine", "label": "positive"}\n'.encode()
    bad = '{"text": "caf\u00e9", "label": "positive"}\n'.encode("latin-1")
    path.write_bytes(good * 4 + bad + good)
    with pytest.raises(DataError, match="not valid UTF-8") as info:
        load_sentiment(path)
    assert info.value.line == 5
    assert str(info.value).startswith(f"{path}:5: ")


def test_utf8_bom_and_unicode_line_separators_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    body = '{"text": "one\u2028two", "label": "positive"}\n'
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    (example,) = load_sentiment(path)
    assert example.inputs["text"] == "one\u2028two"
    assert example.uid == "bom:1"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match="not found") as info:
        load_sentiment(path)
    assert info.value.path == str(path)


# --------------------------------------------------------------------------------------------
# CSV / TSV


def test_csv_maps_fields_with_file_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text(
        'id,review,sentiment\n'
        '1,"great, really",positive\n'
        '\n'
        '2,"line one\nline two",negative\n'
        '3,fine,positive\n',
        encoding="utf-8",
    )
    examples = load_examples(path, input_fields=["review", "id"], target_field="sentiment", labels=LABELS)
    assert [e.inputs for e in examples] == [
        {"review": "great, really", "id": "1"},
        {"review": "line one\nline two", "id": "2"},
        {"review": "fine", "id": "3"},
    ]
    # header is line 1; the quoted field spans lines 4-5, so the next record starts on line 6
    assert [e.uid for e in examples] == ["reviews:2", "reviews:4", "reviews:6"]


def test_csv_label_error_names_the_line_after_a_multiline_field(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('text,label\n"a\nb",positive\nc,meh\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_sentiment(path, labels=LABELS)
    assert str(info.value) == (
        f"{path}:4: field 'label': value 'meh' is not in the label set (negative, positive)"
    )


def test_csv_missing_column_names_field_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("text,sentiment\na,positive\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_sentiment(path)
    assert (info.value.line, info.value.field) == (1, "label")
    assert "the columns are: text, sentiment" in str(info.value)


def test_csv_header_only_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no examples"):
        load_sentiment(path)


def test_csv_row_with_wrong_number_of_values(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\na,positive\nb,negative,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r":3: 3 values but the header \(line 1\) has 2 columns"):
        load_sentiment(path)


def test_csv_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes(b"text,label\na,positive\nb,positive\ncaf\xe9,negative\n")
    with pytest.raises(DataError, match="not valid UTF-8") as info:
        load_sentiment(path)
    assert info.value.line == 4


def test_tsv_by_suffix(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    path.write_text("text\tlabel\na, b\tpositive\n", encoding="utf-8")
    (example,) = load_sentiment(path)
    assert (example.inputs["text"], example.target) == ("a, b", "positive")


def test_format_from_suffix_or_explicit(tmp_path: Path) -> None:
    assert detect_format("x.JSONL") == "jsonl"
    assert detect_format("x.csv") == "csv"
    assert detect_format("x.parquet") == "parquet"
    assert detect_format("x.txt", "csv") == "csv"
    with pytest.raises(PromptoptError, match="cannot tell the data format"):
        detect_format("x.txt")
    path = tmp_path / "data.txt"
    path.write_text("text,label\na,positive\n", encoding="utf-8")
    assert load_sentiment(path, format="csv")[0].target == "positive"


# --------------------------------------------------------------------------------------------
# Parquet


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        return None
    return pyarrow


def write_parquet(path: Path, columns: dict[str, list[object]]) -> Path:
    pa = _pyarrow()
    assert pa is not None
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


needs_pyarrow = pytest.mark.skipif(_pyarrow() is None, reason="pyarrow is not installed")


@needs_pyarrow
def test_parquet_maps_fields_and_numbers(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "math.parquet",
        {"idx": [0, 1], "question": ["one plus one?", "two times twelve?"], "answer": [2, 24]},
    )
    examples = load_examples(path, input_fields=["question"], target_field="answer")
    assert [(e.inputs["question"], e.target, e.uid) for e in examples] == [
        ("one plus one?", "2", "math:1"),
        ("two times twelve?", "24", "math:2"),
    ]


@needs_pyarrow
def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "data.parquet", {"text": ["a", "b", "c"], "label": ["positive", "meh", None]})
    with pytest.raises(DataError) as info:
        load_sentiment(path, labels=LABELS)
    assert str(info.value) == (
        f"{path}: row 2: field 'label': value 'meh' is not in the label set (negative, positive)"
    )
    assert (info.value.line, info.value.unit) == (2, "row")
    with pytest.raises(DataError, match=r"row 3: field 'label': value is null"):
        load_sentiment(path)


@needs_pyarrow
def test_parquet_missing_column_and_empty_table(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "data.parquet", {"text": ["a"], "sentiment": ["positive"]})
    with pytest.raises(DataError, match=r"field 'label': missing; the columns are: text, sentiment"):
        load_sentiment(path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())}), empty)
    with pytest.raises(DataError, match="no examples"):
        load_sentiment(empty)


def test_parquet_without_pyarrow_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    # A None entry in sys.modules makes the import fail exactly as if pyarrow were absent.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"pip install pyarrow") as info:
        load_sentiment(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, PromptoptError)


@needs_pyarrow
def test_corrupt_parquet_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load_sentiment(path)


# --------------------------------------------------------------------------------------------
# Label inference


def test_infer_labels() -> None:
    assert infer_labels(["b", "a", "b"]) == ("a", "b")
    assert infer_labels([str(i) for i in range(21)]) is None
    assert infer_labels([str(i) for i in range(20)]) is not None
    assert infer_labels([]) is None


def test_infer_label_set_from_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", sentiment_rows(5))
    assert infer_label_set(path, target_field="label") == LABELS
    with pytest.raises(DataError, match="field 'stars'"):
        infer_label_set(path, target_field="stars")


def test_read_records_keeps_raw_values(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [{"a": 1, "b": None}])
    records = read_records(path)
    assert records.unit == "line" and records.rows == ((1, {"a": 1, "b": None}),)
