"""The one JSON <-> record helper: dumps, validation errors naming source and field, schema checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated

import pytest
from pydantic import Field

from promptopt import records
from promptopt.errors import PromptoptError
from promptopt.records import Record, RecordError


class _OwnError(PromptoptError):
    pass


@dataclass(frozen=True)
class _Point(Record):
    x: int
    y: Annotated[int, Field(alias="why", ge=0)] = 0
    label: str = ""
    score: records.Rounded = 0.0

    def __post_init__(self) -> None:
        if self.label == "bad":
            raise ValueError("label must not be 'bad'")


@dataclass(frozen=True)
class _Shape(Record):
    record_error = _OwnError

    points: tuple[_Point, ...]


def test_records_stay_frozen_dataclasses_and_dump_as_the_file_spells_them():
    shape = _Shape((_Point(1, 2, "a", 1 / 3), _Point(3)))
    assert shape.to_dict() == {"points": [{"x": 1, "why": 2, "label": "a", "score": 0.333333},
                                          {"x": 3, "why": 0, "label": "", "score": 0.0}]}
    assert _Shape.from_dict(shape.to_dict()) == dataclasses.replace(shape, points=(_Point(1, 2, "a", 0.333333), _Point(3)))
    assert hash(shape.points[1]) == hash(_Point(3))
    assert records.dump_all(shape.points, _Point) == shape.to_dict()["points"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"points": [{"x": 1}, {"x": "no"}]}, "shape.json: points.1.x: Input should be a valid integer, unable to parse "
                                              "string as an integer (got 'no')"),
        ({"points": [{"x": 1, "why": -1}]}, "shape.json: points.0.why: Input should be greater than or equal to 0 (got -1)"),
        ({"points": [{}]}, "shape.json: points.0.x: Field required"),
        ({"points": [{"x": 1, "label": "bad"}]}, "shape.json: points.0: label must not be 'bad'"),
        ({"points": [{"x": "a"}, {"x": "b"}]}, "(and 1 more)"),
        ([], "shape.json: Input should be a dictionary or an instance of _Shape"),
    ],
)
def test_a_bad_record_raises_the_callers_error_naming_source_and_field(data, message):
    with pytest.raises(_OwnError) as info:
        _Shape.from_dict(data, where="shape.json")
    assert message in str(info.value)


def test_a_record_without_its_own_error_raises_record_error_named_after_its_class():
    with pytest.raises(RecordError, match=r"^_Point: x: Field required$") as info:
        _Point.from_dict({})
    assert isinstance(info.value, ValueError) and info.value.exit_code == 2


def test_schema_versions_are_checked_before_any_field():
    assert records.check_schema({"schema_version": 1}, where="f", known=(1,)) == 1
    assert records.check_schema({}, where="f", known=(1, 2), default=1) == 1
    with pytest.raises(RecordError, match=r"^f: schema_version: unknown schema version 3 \(this promptopt reads 1, 2"):
        records.check_schema({"schema_version": 3}, where="f", known=(1, 2))
    with pytest.raises(RecordError, match="unknown schema version None"):
        records.check_schema({}, where="f", known=(1,), key="version")
    with pytest.raises(_OwnError, match="unknown schema version True"):
        records.check_schema({"version": True}, where="f", known=(1,), key="version", error=_OwnError)
    with pytest.raises(RecordError, match="f: expected a JSON object, got list"):
        records.check_schema([], where="f", known=(1,))


def test_files_that_cannot_be_read_name_the_file_and_place(tmp_path):
    path = tmp_path / "r.json"
    with pytest.raises(RecordError, match=f"{path}: cannot read the file"):
        records.read_json(path)
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(RecordError, match=f"{path}: not UTF-8 text"):
        records.read_json(path)
    path.write_text('{"a":\n  [1,}')
    with pytest.raises(_OwnError, match=f"{path}:2:6: not valid JSON"):
        records.read_json(path, error=_OwnError)
    path.write_text("[" * 100_000)
    with pytest.raises(RecordError, match="nested too deeply"):
        records.read_json(path)
    path.write_text('{"a": 1}')
    assert records.read_json(path) == {"a": 1}
