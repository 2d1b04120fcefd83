"""Persisted records to JSON-ready data and back, through pydantic, in one place.

Records stay frozen dataclasses (attribute access, ``dataclasses.replace``, equality, hashing);
pydantic validates and serializes them from their annotations, one ``TypeAdapter`` per class,
built on first use. A record that does not validate raises the caller's error type naming the
source and the field path, e.g. ``rubric.json: items.2.max: Input should be a valid integer``.
Files that are records on their own carry a schema version, checked before their fields
(:func:`check_schema`), so a file from a newer promptopt says so instead of naming a field.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Collection, Iterable, Mapping, TypeVar

from pydantic import PlainSerializer, TypeAdapter, ValidationError

from promptopt import jsonio
from promptopt.errors import PromptoptError

__all__ = [
    "Record",
    "Number",
    "RecordError",
    "Rounded",
    "adapter",
    "check_schema",
    "describe",
    "dump",
    "dump_all",
    "load",
    "parse_json",
    "read_json",
]

R = TypeVar("R")


class RecordError(PromptoptError, ValueError):
    """A persisted record could not be read; the message names the file or source and the field."""

    exit_code = 2


#: A float setting written as it was given: an int stays an int, so a settings file reads the same
#: as before pydantic (resume compares config.json text).
Number = Annotated[float, PlainSerializer(lambda value: value)]

#: A float written rounded to 6 decimals (journals stay short and stable across platforms).
Rounded = Annotated[float, PlainSerializer(lambda value: round(value, 6))]


@cache
def adapter(cls: type[R]) -> TypeAdapter[R]:
    """The pydantic adapter of a record class (built once: building costs milliseconds)."""
    return TypeAdapter(cls)


def dump(record: object) -> dict[str, Any]:
    """The record as JSON-ready data: aliases as the file spells them, tuples as lists."""
    data: dict[str, Any] = adapter(type(record)).dump_python(record, mode="json", by_alias=True)
    return data


@cache
def _list_adapter(cls: type[R]) -> TypeAdapter[list[R]]:
    return TypeAdapter(list[cls])  # type: ignore[valid-type]


def dump_all(items: Iterable[R], cls: type[R]) -> list[dict[str, Any]]:
    """Many records of one class in one pass (an episode's event log: thousands of records)."""
    data: list[dict[str, Any]] = _list_adapter(cls).dump_python(list(items), mode="json", by_alias=True)
    return data


def describe(exc: ValidationError) -> str:
    """The first failure as ``field.path: what is wrong (got value)``, and how many more."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    # our own checks (__post_init__, validators) raise ValueError: show their text as written
    text = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    if first["type"] != "missing" and (value is None or isinstance(value, (str, int, float))):
        shown = repr(value)
        text += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return f"{where}: {text}" if where else text


def load(cls: type[R], data: Any, *, where: str, error: type[PromptoptError] = RecordError) -> R:
    """Validate ``data`` into a ``cls`` record; ``error`` names ``where`` and the failing field."""
    try:
        return adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise error(f"{where}: {describe(exc)}") from None


def read_json(path: str | Path, *, error: type[PromptoptError] = RecordError, what: str = "file") -> Any:
    """The decoded JSON of a file; an unreadable or malformed one raises ``error`` naming the
    file (and the line and column of the first bad character)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{source}: cannot read the {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_json(text, where=str(source), error=error)


def parse_json(text: str, *, where: str, error: type[PromptoptError] = RecordError) -> Any:
    """Decoded JSON text; malformed text raises ``error`` naming ``where``, line and column."""
    try:
        return jsonio.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def check_schema(
    data: Any,
    *,
    where: str,
    known: Collection[int],
    key: str = "schema_version",
    default: int | None = None,
    error: type[PromptoptError] = RecordError,
) -> int:
    """The schema version ``data`` declares under ``key`` (``default`` when absent), checked
    against the ``known`` ones before any field is read."""
    if not isinstance(data, Mapping):
        raise error(f"{where}: expected a JSON object, got {type(data).__name__}")
    version = data.get(key, default)
    if isinstance(version, bool) or version not in known:
        readable = ", ".join(str(v) for v in sorted(known))
        raise error(
            f"{where}: {key}: unknown schema version {version!r} (this promptopt reads {readable}; "
            "a newer promptopt may have written it)"
        )
    return int(version)


class Record:
    """Base of a frozen dataclass persisted as JSON: ``to_dict``/``from_dict`` through pydantic.

    The class's annotations are its schema (aliases, bounds, validators and serializers as
    pydantic metadata); ``record_error`` is what a bad record raises.
    """

    __slots__ = ()
    record_error: ClassVar[type[PromptoptError]] = RecordError

    def to_dict(self) -> dict[str, Any]:
        return dump(self)

    @classmethod
    def from_dict(cls: type[R], data: Any, *, where: str = "") -> R:
        name = cls.__name__  # type: ignore[attr-defined]
        return load(cls, data, where=where or name, error=cls.record_error)  # type: ignore[attr-defined]
