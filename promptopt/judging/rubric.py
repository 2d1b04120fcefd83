"""Rubric: the judge's versioned scoring criteria, as JSON data.

A rubric is a list of items, each with a short name, a description the judge reads and an explicit
integer maximum. Scores under different rubric versions are not comparable, so every rubric carries
its version and every score records the version that produced it. Each version is stored as its
own file in the run directory (``rubrics/v001.json``, ...), so a run can be audited afterwards.

Rubrics come from files, from the task definition and from the meta-judge; all three go through
:meth:`Rubric.from_dict` (JSON) or :func:`parse_rubric_text` (a JSON object or plain
``- name (max N): description`` lines inside an answer), which name the bad field.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Mapping, Sequence

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    SerializerFunctionWrapHandler,
    Strict,
    model_serializer,
    model_validator,
)

from promptopt import jsonio, records
from promptopt.errors import PromptoptError

__all__ = [
    "RUBRIC_FORMAT",
    "Rubric",
    "RubricError",
    "RubricItem",
    "parse_rubric_text",
    "rubric_path",
]

RUBRIC_FORMAT = "promptopt.rubric"
#: The layout of rubric files. Files written so far carry no ``schema_version`` key: absent is 1.
RUBRIC_SCHEMA = 1
#: Highest maximum an item may declare: beyond it, integer scores stop meaning anything.
MAX_ITEM_SCORE = 100
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class RubricError(PromptoptError, ValueError):
    """A rubric could not be read; the message names the file or source and the field."""

    exit_code = 2


def _slug(text: str) -> str:
    """A snake_case item name from free text ("Names the subject" -> "names_the_subject")."""
    words = re.findall(r"[a-z0-9]+", text.casefold())
    slug = "_".join(words)[:40].strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"item_{slug}".strip("_")
    return slug


def _item_name(name: str) -> str:
    if not name.strip():
        raise ValueError("must be a non-empty string")
    return name.strip() if _NAME.match(name.strip()) else _slug(name)


def _words(text: str) -> str:
    if not text.strip():
        raise ValueError("must be a non-empty string")
    return " ".join(text.split())


def _some(items: tuple[RubricItem, ...]) -> tuple[RubricItem, ...]:
    if not items:
        raise ValueError("a rubric needs at least one item")
    return items


def _explicit_int(value: Any) -> Any:
    """Models write ``"5"`` and ``5.0`` for 5; anything else must already be an integer."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_MaxScore = Annotated[
    int,
    BeforeValidator(_explicit_int),
    Strict(),
    Field(ge=1, le=MAX_ITEM_SCORE, validation_alias=AliasChoices("max", "max_score"), serialization_alias="max"),
]
#: Any JSON value is read as its text (model answers put numbers and nulls in these fields).
_Text = Annotated[str, BeforeValidator(str)]


@dataclass(frozen=True)
class RubricItem(records.Record):
    """One criterion: ``name`` (snake_case id), what the judge checks, and the highest score.

    Read from ``{"name", "description", "max"}`` (``max_score`` also accepted; a missing or
    free-text name becomes a snake_case one; the description's whitespace is collapsed).
    """

    record_error = RubricError

    name: Annotated[str, AfterValidator(_item_name)]
    description: Annotated[str, AfterValidator(_words)]
    max_score: _MaxScore

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        """An item without a name is named after the start of its description."""
        if isinstance(data, Mapping) and data.get("name") is None:
            description = data.get("description")
            return {**data, "name": _slug(description[:40]) if isinstance(description, str) else "item"}
        return data


@dataclass(frozen=True)
class Rubric(records.Record):
    """A versioned list of items. ``version`` counts from 1; ``parent`` is the version it refines."""

    record_error = RubricError

    items: Annotated[tuple[RubricItem, ...], AfterValidator(_some)]
    version: Annotated[int, Strict(), Field(ge=1)] = 1
    parent: Annotated[int, Strict()] | None = None
    origin: _Text = "initial"
    notes: _Text = ""

    def __post_init__(self) -> None:
        if not self.items:
            raise RubricError("a rubric needs at least one item")
        names = [item.name for item in self.items]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RubricError(f"rubric item names must be distinct; repeated: {', '.join(duplicates)}")
        if self.version < 1:
            raise RubricError(f"rubric version must be >= 1, got {self.version}")

    @model_validator(mode="before")
    @classmethod
    def _from_a_file(cls, data: Any) -> Any:
        """A rubric read without an origin came from a file."""
        return {"origin": "file", **data} if isinstance(data, Mapping) else data

    @model_serializer(mode="wrap")
    def _layout(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The file layout written so far: the format first, the items last."""
        data = handler(self)
        items = data.pop("items")
        return {"format": RUBRIC_FORMAT, **data, "items": items}

    # -- identity ------------------------------------------------------------------------------
    @cached_property
    def fingerprint(self) -> str:
        """Hash of the items only (not the version): two versions with equal items are equal.

        Computed once per rubric: the judge keys every verdict by it."""
        blob = json.dumps([i.to_dict() for i in self.items], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items)

    def same_items(self, other: Rubric) -> bool:
        return self.fingerprint == other.fingerprint

    def text_length(self) -> int:
        """Characters of the text the judge reads (what the length cap limits)."""
        return sum(len(item.name) + len(item.description) for item in self.items)

    def next_version(self, items: Sequence[RubricItem], *, origin: str, notes: str = "") -> Rubric:
        """A successor of this rubric with new items (version + 1, parent = this version)."""
        return Rubric(tuple(items), version=self.version + 1, parent=self.version, origin=origin, notes=notes)

    def with_version(self, version: int, parent: int | None) -> Rubric:
        return replace(self, version=version, parent=parent)

    # -- rendering -----------------------------------------------------------------------------
    def render(self) -> str:
        """The items as the judge and the meta-judge read them, one per line."""
        return "\n".join(f"- {i.name} (max {i.max_score}): {i.description}" for i in self.items)

    def items_json(self) -> str:
        """Only the items, as compact JSON (what meta-prompts show and ask for)."""
        return json.dumps({"items": [i.to_dict() for i in self.items]}, ensure_ascii=False)

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Rubric:
        """A rubric file: its schema version and format are checked before its fields."""
        where = str(path)
        data = records.read_json(path, error=RubricError, what="rubric file")
        records.check_schema(data, where=where, known=(RUBRIC_SCHEMA,), default=RUBRIC_SCHEMA, error=RubricError)
        if data.get("format", RUBRIC_FORMAT) != RUBRIC_FORMAT:
            raise RubricError(f"{where}: format: {data['format']!r} is not a rubric (expected {RUBRIC_FORMAT!r})")
        return cls.from_dict(data, where=where)

    @classmethod
    def from_description(cls, task_description: str, *, max_score: int = 10) -> Rubric:
        """The default initial rubric: one item written from the task description."""
        text = " ".join(task_description.split())
        return cls(
            (RubricItem("fulfils_task", f"The output does what the task asks: {text}", max_score),),
            origin="task description",
        )


_LINE = re.compile(
    r"^\s*(?:[-*•]|\d+[.)])?\s*\**(?P<name>[A-Za-z][\w \-]{0,60}?)\**\s*\(\s*max(?:imum)?\s*:?\s*(?P<max>\d+)\s*\)\s*[:\-–]\s*(?P<desc>.+?)\s*$",
    re.IGNORECASE,
)


_FLAT_OBJECT = re.compile(r"\{[^{}]*\}")


def _salvaged_items(text: str, where: str) -> list[dict[str, Any]]:
    """The complete, valid item objects of an answer whose JSON does not parse.

    Qwen2.5-Coder-0.5B as meta-judge wrote rubrics of ten and more items and was cut off at
    ``max_tokens`` in the middle of one, or nested ``{"items": ...}`` objects inside the list:
    every complete ``{"name", "description", "max"}`` object is still a usable item. Invalid
    objects and repeated names are skipped; the acceptance gate judges the result.
    """
    items: list[dict[str, Any]] = []
    names: set[str] = set()
    for match in _FLAT_OBJECT.finditer(text):
        try:
            item = RubricItem.from_dict(jsonio.loads(match.group(0)), where=where)
        except (json.JSONDecodeError, RubricError):
            continue
        if item.name not in names:
            names.add(item.name)
            items.append(item.to_dict())
    return items


def parse_rubric_text(text: str, *, where: str = "answer") -> Rubric:
    """A rubric from an LLM answer: a JSON object with ``items``, else the complete items of one that
    does not parse (:func:`_salvaged_items`, noted in the rubric's ``notes``), else
    ``- name (max N): text`` lines.

    Raises :class:`RubricError` saying what is missing; the caller decides (retry, keep the old).
    """
    start, end = text.find("{"), text.rfind("}")
    json_error = None
    if start != -1 and end > start:
        try:
            return Rubric.from_dict(jsonio.loads(text[start : end + 1]), where=where)
        except json.JSONDecodeError as exc:
            json_error = f"not valid JSON ({exc.msg})"
        except RubricError as exc:
            json_error = str(exc)
    salvaged = _salvaged_items(text, where) if json_error is not None else []
    if salvaged:
        note = f"read from {len(salvaged)} complete item(s) of a malformed or cut-off answer ({json_error})"
        return Rubric.from_dict({"items": salvaged, "notes": note}, where=where)
    items = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            items.append(
                {"name": match["name"].strip(), "description": match["desc"], "max": int(match["max"])}
            )
    if items:
        return Rubric.from_dict({"items": items}, where=where)
    raise RubricError(
        json_error or f"{where}: no rubric found (expected a JSON object with 'items' or '- name (max N): description' lines)"
    )


def rubric_path(run_dir: str | Path, version: int) -> Path:
    """Where version ``version`` of the rubric is stored in a run directory."""
    return Path(run_dir) / "rubrics" / f"v{version:03d}.json"
