"""Answer parsers: turn a model's raw output into the answer a metric scores.

Every parser reads the content of ``<final_answer>…</final_answer>`` by default (CAPO's format)
and reports a parse failure rather than guessing: a missing tag, no recognisable answer or two
conflicting answers are failures, never a default class (that would bias accuracy).

Parsers are frozen dataclasses whose ``spec()`` is plain JSON data. ``parser_from_spec`` rebuilds
them from that data alone — a fixed table of kinds, no imports by name and no eval — because
artifacts loaded from disk carry their parser as a spec.
"""

from __future__ import annotations

import functools
import json
import math
import re
import string
import threading
import warnings
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

import regex

from promptopt.tasks.records import AnswerParser, ParsedAnswer

__all__ = [
    "ChoiceParser",
    "ExactParser",
    "JsonFieldParser",
    "LabelParser",
    "NumberParser",
    "RegexParser",
    "normalize_label",
    "normalize_number",
    "parser_from_spec",
]

DEFAULT_TAG = "final_answer"

# --------------------------------------------------------------------------------------------
# Tags


_TAG_NAME = re.compile(r"[A-Za-z_][\w.\-]*")


def _check_tag(tag: object) -> None:
    if tag is None:
        return
    if not isinstance(tag, str) or not _TAG_NAME.fullmatch(tag):
        raise ValueError(
            f"tag: expected None or a tag name such as 'final_answer' (letters, digits, '_', '-', "
            f"'.'), got {tag!r}"
        )


def _tag_contents(text: str, tag: str) -> list[str]:
    """Contents of every ``<tag>…</tag>`` (case-insensitive), in order.

    A last opening tag that is never closed counts up to the end of the text: outputs generated
    with ``</final_answer>`` as a stop sequence end that way.
    """
    name = re.escape(tag)
    opening = re.compile(rf"<\s*{name}\s*>", re.IGNORECASE)
    closing = re.compile(rf"<\s*/\s*{name}\s*>", re.IGNORECASE)
    contents: list[str] = []
    pos = 0
    while (start := opening.search(text, pos)) is not None:
        end = closing.search(text, start.end())
        if end is None:
            contents.append(text[start.end():])
            break
        contents.append(text[start.end():end.start()])
        pos = end.end()
    return contents


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _parse_tagged(
    text: str,
    tag: str | None,
    parse_one: Callable[[str], ParsedAnswer],
    same: Callable[[str, str], bool] = str.__eq__,
) -> ParsedAnswer:
    """Apply ``parse_one`` to the whole text or to each tag's content, and reconcile the answers.

    Several tags must all parse and agree; one failing or disagreeing fails the whole output,
    because picking one of them would be a guess.
    """
    if tag is None:
        if not text.strip():
            return ParsedAnswer.failed("empty output")
        return parse_one(text)
    contents = _tag_contents(text, tag)
    if not contents:
        return ParsedAnswer.failed(f"no <{tag}> tag")
    answers: list[ParsedAnswer] = []
    for i, content in enumerate(contents, start=1):
        where = f"<{tag}> {i} of {len(contents)}" if len(contents) > 1 else f"<{tag}>"
        if not content.strip():
            return ParsedAnswer.failed(f"empty {where} tag")
        answer = parse_one(content)
        if not answer.ok:
            return ParsedAnswer.failed(f"{where}: {answer.error}")
        answers.append(answer)
    first = answers[0]
    assert first.value is not None
    others = [a.value for a in answers[1:] if a.value is not None and not same(first.value, a.value)]
    if others:
        distinct = list(dict.fromkeys([first.value, *others]))
        return ParsedAnswer.failed("conflicting answers: " + ", ".join(repr(_shorten(v)) for v in distinct))
    return first


def _ok(value: str) -> ParsedAnswer:
    return ParsedAnswer(value=value, ok=True)


# --------------------------------------------------------------------------------------------
# Labels

_STRIP_CHARS = string.whitespace + string.punctuation + "“”‘’«»„‚‹›「」『』…–—·"


def normalize_label(text: str) -> str:
    """Casefold, strip surrounding whitespace/punctuation/quotes, collapse inner whitespace."""
    return " ".join(text.casefold().split()).strip(_STRIP_CHARS)


def _str_tuple(name: str, value: object, *, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name}: expected a list of strings, got {type(value).__name__}")
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{name}: expected a list of strings, got {items!r}")
    if not items and not allow_empty:
        raise ValueError(f"{name}: must not be empty")
    return items


@dataclass(frozen=True)
class LabelParser:
    """A classification answer: one of ``labels`` (or an alias of one), in its canonical spelling.

    The whole (tag) text matching a label after normalization wins; otherwise labels and aliases
    are searched as whole words, preferring the longest at a position (so "very positive" is not
    also "positive"). Exactly one distinct label must be found. Negations are not interpreted.
    """

    labels: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict, hash=False)
    tag: str | None = DEFAULT_TAG

    def __post_init__(self) -> None:
        labels = _str_tuple("labels", self.labels)
        if not isinstance(self.aliases, Mapping):
            raise ValueError(f"aliases: expected a mapping of alias -> label, got {type(self.aliases).__name__}")
        aliases = dict(self.aliases)
        _check_tag(self.tag)
        terms: dict[str, str] = {}
        for label in labels:
            key = normalize_label(label)
            if not key:
                raise ValueError(f"labels: {label!r} is empty after normalization")
            if key in terms:
                raise ValueError(f"labels: {label!r} duplicates {terms[key]!r} after normalization")
            terms[key] = label
        for alias, target in aliases.items():
            if not isinstance(alias, str) or not isinstance(target, str):
                raise ValueError(f"aliases: expected strings, got {alias!r} -> {target!r}")
            if target not in labels:
                raise ValueError(f"aliases: {alias!r} points to {target!r}, which is not one of the labels {list(labels)}")
            key = normalize_label(alias)
            if not key:
                raise ValueError(f"aliases: {alias!r} is empty after normalization")
            if terms.get(key, target) != target:
                raise ValueError(f"aliases: {alias!r} already means {terms[key]!r}")
            terms[key] = target
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "aliases", MappingProxyType(aliases))

    # A read-only mapping does not pickle; a task goes to worker processes (bench executors) pickled.
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "aliases": dict(self.aliases)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, MappingProxyType(value) if name == "aliases" else value)

    def _terms(self) -> dict[str, str]:
        terms = {normalize_label(label): label for label in self.labels}
        terms.update({normalize_label(alias): label for alias, label in self.aliases.items()})
        return terms

    def _parse_one(self, text: str) -> ParsedAnswer:
        terms = self._terms()
        whole = normalize_label(text)
        if whole in terms:
            return _ok(terms[whole])
        haystack = " ".join(text.casefold().split())
        matches: list[tuple[int, int, str]] = []  # (start, end, label)
        for term, label in terms.items():
            pattern = r"(?<!\w)" + r"\s+".join(re.escape(word) for word in term.split()) + r"(?!\w)"
            matches.extend((m.start(), m.end(), label) for m in re.finditer(pattern, haystack))
        found: list[str] = []
        covered_until = -1
        for start, end, label in sorted(matches, key=lambda m: (m[0], -(m[1] - m[0]))):
            if start < covered_until:
                continue  # inside a longer match already taken ("positive" in "very positive")
            covered_until = end
            if label not in found:
                found.append(label)
        if not found:
            return ParsedAnswer.failed(f"no label from {list(self.labels)}")
        if len(found) > 1:
            return ParsedAnswer.failed("ambiguous: found " + ", ".join(repr(label) for label in found))
        return _ok(found[0])

    def parse(self, text: str) -> ParsedAnswer:
        return _parse_tagged(text, self.tag, self._parse_one)

    def spec(self) -> dict[str, object]:
        return {"kind": "label", "labels": list(self.labels), "aliases": dict(self.aliases), "tag": self.tag}


# --------------------------------------------------------------------------------------------
# Numbers

# A number not glued to a word or a decimal point: optional sign and currency (either order),
# digits with optional thousands commas, optional decimals. "3-4" reads as 3 and 4, not 3 and -4.
_NUMBER = re.compile(
    r"(?<![\w.])"
    r"(?P<sign>[-−+]?)(?P<currency>[$€£¥]?)(?P<sign2>[-−]?)"
    r"(?P<body>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?!\d)"
)
_AFTER_HASHES = re.compile(r"####\s*")


def _format_decimal(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _number_from_match(match: re.Match[str]) -> str:
    value = Decimal(match.group("body").replace(",", ""))
    signs = match.group("sign") + match.group("sign2")
    if "-" in signs or "−" in signs:
        value = -value
    return _format_decimal(value)


def normalize_number(text: str) -> str | None:
    """The number ``text`` is, as a canonical string ("1,234.50" → "1234.5"), or None.

    Accepts thousands commas, a currency sign, a sign and a trailing period around one number.
    """
    stripped = text.strip().rstrip(".").strip()
    match = _NUMBER.fullmatch(stripped)
    if match is None:
        return None
    try:
        return _number_from_match(match)
    except InvalidOperation:  # pragma: no cover - the pattern only admits valid decimals
        return None


def _check_tolerance(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"tolerance: expected a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class NumberParser:
    """A numeric answer: the last number in the text, or the one after ``####`` (GSM8K style).

    ``tolerance`` (relative, at least absolute for small values) decides whether several tagged
    answers agree.
    """

    tolerance: float = 1e-6
    mode: Literal["last", "after_hashes"] = "last"
    tag: str | None = DEFAULT_TAG

    def __post_init__(self) -> None:
        object.__setattr__(self, "tolerance", _check_tolerance(self.tolerance))
        if self.mode not in ("last", "after_hashes"):
            raise ValueError(f"mode: expected 'last' or 'after_hashes', got {self.mode!r}")
        _check_tag(self.tag)

    def _parse_one(self, text: str) -> ParsedAnswer:
        if self.mode == "after_hashes":
            values = []
            for hashes in _AFTER_HASHES.finditer(text):
                match = _NUMBER.match(text, hashes.end())
                if match is not None:
                    values.append(_number_from_match(match))
            if not values:
                return ParsedAnswer.failed("no number after ####")
            distinct = list(dict.fromkeys(values))
            if any(not self._same(distinct[0], v) for v in distinct[1:]):
                return ParsedAnswer.failed("conflicting answers: " + ", ".join(distinct))
            return _ok(values[-1])
        last = None
        for last in _NUMBER.finditer(text):
            pass
        if last is None:
            return ParsedAnswer.failed("no number")
        return _ok(_number_from_match(last))

    def _same(self, a: str, b: str) -> bool:
        x, y = float(a), float(b)
        return abs(x - y) <= self.tolerance * max(1.0, abs(y))

    def parse(self, text: str) -> ParsedAnswer:
        return _parse_tagged(text, self.tag, self._parse_one, self._same)

    def spec(self) -> dict[str, object]:
        return {"kind": "number", "tolerance": self.tolerance, "mode": self.mode, "tag": self.tag}


# --------------------------------------------------------------------------------------------
# Multiple choice


@dataclass(frozen=True)
class ChoiceParser:
    """A multiple-choice letter, returned as "(B)" (BBH's target format).

    Conservative on purpose: the whole text being a letter ("B", "(b)", "B)") wins; then
    "answer is (B)" / "answer: B"; then "option b" / "choice B"; then letters in parentheses. The
    first of these tiers that finds anything decides ("Option A says … the answer is (B)" is B),
    and two different letters in it are a conflict. A bare letter inside prose ("A dog") is never
    an answer.
    """

    letters: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")
    tag: str | None = DEFAULT_TAG

    def __post_init__(self) -> None:
        letters = _str_tuple("letters", self.letters)
        for letter in letters:
            if len(letter) != 1 or not letter.isalpha():
                raise ValueError(f"letters: expected single letters, got {letter!r}")
        if len({letter.casefold() for letter in letters}) != len(letters):
            raise ValueError(f"letters: duplicates in {list(letters)}")
        _check_tag(self.tag)
        object.__setattr__(self, "letters", letters)

    def _patterns(self) -> tuple[re.Pattern[str], list[list[re.Pattern[str]]]]:
        """The whole-text pattern, then the search tiers in order of trust."""
        cls = "[" + "".join(re.escape(letter) for letter in self.letters) + "]"
        ci = re.IGNORECASE | re.MULTILINE
        whole = re.compile(rf"[\s\"'*`]*(?:\(\s*({cls})\s*\)|({cls})\s*[).:]?)[\s\"'*`.]*", ci)

        def after(marker: str) -> list[re.Pattern[str]]:
            lead = rf"\b{marker}\s*[:=]?\s*(?:(?:option|choice)\s+)?"
            return [
                re.compile(rf"{lead}\(\s*({cls})\s*\)", ci),
                # any case when only punctuation or the end follows; before more words, capitals only
                re.compile(rf"{lead}({cls})(?=\s*(?:$|[.,;:!?)\]\"'*]))", ci),
                re.compile(rf"{lead}((?-i:[A-Z]))(?!\w)", ci),
            ]

        answer = after(r"answer(?:\s+(?:is|would\s+be|should\s+be))?")
        option = after(r"(?:option|choice)")
        paren = [re.compile(rf"\(\s*({cls})\s*\)", ci)]
        return whole, [answer, option, paren]

    def _canonical(self, letter: str) -> str | None:
        for candidate in self.letters:
            if candidate.casefold() == letter.casefold():
                return candidate
        return None

    def _decide(self, found: Sequence[str]) -> ParsedAnswer:
        letters = list(dict.fromkeys(found))
        if len(letters) > 1:
            return ParsedAnswer.failed("conflicting answers: " + ", ".join(f"({x})" for x in letters))
        return _ok(f"({letters[0]})")

    def _parse_one(self, text: str) -> ParsedAnswer:
        whole, tiers = self._patterns()
        match = whole.fullmatch(text)
        if match is not None:
            letter = self._canonical(match.group(1) or match.group(2))
            if letter is not None:
                return _ok(f"({letter})")
        for tier in tiers:
            found = [
                letter
                for pattern in tier
                for m in pattern.finditer(text)
                if (letter := self._canonical(m.group(1))) is not None
            ]
            if found:
                return self._decide(found)
        return ParsedAnswer.failed(f"no choice from {['(' + x + ')' for x in self.letters]}")

    def parse(self, text: str) -> ParsedAnswer:
        return _parse_tagged(text, self.tag, self._parse_one)

    def spec(self) -> dict[str, object]:
        return {"kind": "choice", "letters": list(self.letters), "tag": self.tag}


# --------------------------------------------------------------------------------------------
# Exact text, regex, JSON field


@dataclass(frozen=True)
class ExactParser:
    """The (tag) text itself, stripped: for tasks scored by exact match or token F1."""

    tag: str | None = DEFAULT_TAG

    def __post_init__(self) -> None:
        _check_tag(self.tag)

    def parse(self, text: str) -> ParsedAnswer:
        return _parse_tagged(text, self.tag, lambda t: _ok(t.strip()))

    def spec(self) -> dict[str, object]:
        return {"kind": "exact", "tag": self.tag}


#: The longest one search of a :class:`RegexParser` pattern may take. A normal pattern answers in
#: microseconds; a catastrophically backtracking one (``(a|aa)+$``) would take hours on a long
#: answer, and parsing runs inside the evaluation loop for every model answer.
REGEX_TIMEOUT_S = 0.5

_slow_patterns: set[str] = set()
_slow_lock = threading.Lock()


@functools.lru_cache(maxsize=256)
def _bounded_pattern(pattern: str, flags: str) -> "regex.Pattern[str]":
    """``pattern`` compiled by the ``regex`` engine (cached: parsing runs for every answer)."""
    return regex.compile(pattern, regex.IGNORECASE if flags == "i" else 0)


def _warn_slow_pattern(pattern: str) -> None:
    """Warn once per pattern and process: one line, not one per answer of the run."""
    with _slow_lock:
        if pattern in _slow_patterns:
            return
        _slow_patterns.add(pattern)
    warnings.warn(
        f"regex parser pattern {_shorten(pattern, 80)!r} took longer than {REGEX_TIMEOUT_S:g} s on an answer "
        f"(catastrophic backtracking) and was stopped; such answers count as unparsed. Rewrite "
        f"the pattern without nested repetition such as (a+)+ or (a|aa)+.",
        stacklevel=4,
    )


@dataclass(frozen=True)
class RegexParser:
    """A group of the first match of ``pattern`` (``re`` syntax: a pattern is data, not code).

    Patterns come from artifacts, which may be foreign, so a search is time-bounded: it runs on
    the ``regex`` engine with a timeout of :data:`REGEX_TIMEOUT_S` (the stdlib's ``re`` can
    neither be interrupted nor bounded, and ``(a+)+$`` takes a second there on 24 characters,
    doubling per character). A search that times out parses as no answer, with one warning per
    pattern. The pattern must compile with ``re`` too (checked when the parser, or the artifact
    holding it, is built), so what an artifact may contain stays the documented ``re`` syntax
    and not ``regex``'s extensions.
    """

    pattern: str
    group: int | str = 1
    flags: Literal["", "i"] = ""
    tag: str | None = DEFAULT_TAG

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str):
            raise ValueError(f"pattern: expected a string, got {type(self.pattern).__name__}")
        if self.flags not in ("", "i"):
            raise ValueError(f"flags: expected '' or 'i', got {self.flags!r}")
        try:
            compiled = re.compile(self.pattern, re.IGNORECASE if self.flags == "i" else 0)
        except (re.error, RecursionError, OverflowError) as exc:
            raise ValueError(f"pattern {_shorten(self.pattern, 80)!r} does not compile: {exc}") from None
        try:
            _bounded_pattern(self.pattern, self.flags)
        except (regex.error, RecursionError, OverflowError) as exc:
            raise ValueError(
                f"pattern {_shorten(self.pattern, 80)!r} is not supported by the time-bounded regex engine: {exc}"
            ) from None
        group = self.group
        if isinstance(group, bool) or not isinstance(group, (int, str)):
            raise ValueError(f"group: expected a group number or name, got {group!r}")
        if isinstance(group, int) and not 0 <= group <= compiled.groups:
            raise ValueError(f"group: pattern {self.pattern!r} has no group {group} (it has {compiled.groups})")
        if isinstance(group, str) and group not in compiled.groupindex:
            raise ValueError(f"group: pattern {self.pattern!r} has no group named {group!r}")
        _check_tag(self.tag)

    def _parse_one(self, text: str) -> ParsedAnswer:
        try:
            match = _bounded_pattern(self.pattern, self.flags).search(text, timeout=REGEX_TIMEOUT_S)
        except TimeoutError:
            _warn_slow_pattern(self.pattern)
            return ParsedAnswer.failed(
                f"pattern {_shorten(self.pattern, 80)!r} stopped after {REGEX_TIMEOUT_S:g} s (catastrophic backtracking)"
            )
        if match is None:
            return ParsedAnswer.failed(f"no match for {self.pattern!r}")
        value = match.group(self.group)
        if value is None or not value.strip():
            return ParsedAnswer.failed(f"group {self.group!r} of {self.pattern!r} is empty")
        return _ok(value.strip())

    def parse(self, text: str) -> ParsedAnswer:
        return _parse_tagged(text, self.tag, self._parse_one)

    def spec(self) -> dict[str, object]:
        return {"kind": "regex", "pattern": self.pattern, "group": self.group, "flags": self.flags, "tag": self.tag}


_FENCE = re.compile(r"```[A-Za-z0-9_-]*")


def _first_json_object(text: str) -> dict[str, object] | None:
    """The first ``{…}`` in the text that decodes as a JSON object, chatter and fences ignored."""
    cleaned = _FENCE.sub(" ", text)
    decoder = json.JSONDecoder()
    pos = cleaned.find("{")
    while pos != -1:
        try:
            value, _ = decoder.raw_decode(cleaned, pos)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        pos = cleaned.find("{", pos + 1)
    return None


@dataclass(frozen=True)
class JsonFieldParser:
    """A top-level field of the first JSON object in the text; non-strings become JSON text."""

    field: str
    tag: str | None = DEFAULT_TAG

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field:
            raise ValueError(f"field: expected a non-empty string, got {self.field!r}")
        _check_tag(self.tag)

    def _parse_one(self, text: str) -> ParsedAnswer:
        obj = _first_json_object(text)
        if obj is None:
            return ParsedAnswer.failed("no JSON object")
        if self.field not in obj:
            return ParsedAnswer.failed(f"JSON object has no field {self.field!r}")
        value = obj[self.field]
        if value is None:
            return ParsedAnswer.failed(f"field {self.field!r} is null")
        if isinstance(value, str):
            text_value = value.strip()
        elif isinstance(value, bool):
            text_value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text_value = normalize_number(repr(value)) or repr(value)
        else:
            text_value = json.dumps(value, sort_keys=True, ensure_ascii=False)
        if not text_value:
            return ParsedAnswer.failed(f"field {self.field!r} is empty")
        return _ok(text_value)

    def parse(self, text: str) -> ParsedAnswer:
        return _parse_tagged(text, self.tag, self._parse_one)

    def spec(self) -> dict[str, object]:
        return {"kind": "json_field", "field": self.field, "tag": self.tag}


# --------------------------------------------------------------------------------------------
# Specs

_KINDS: dict[str, type] = {
    "label": LabelParser,
    "number": NumberParser,
    "choice": ChoiceParser,
    "exact": ExactParser,
    "regex": RegexParser,
    "json_field": JsonFieldParser,
}


def parser_from_spec(spec: Mapping[str, object]) -> AnswerParser:
    """Rebuild a parser from ``spec()`` data. Invalid data raises ValueError naming the field.

    Only the kinds in a fixed table can be built and every field is checked as plain data, so a
    spec read from an untrusted artifact cannot run code.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"parser spec: expected a JSON object, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind is None:
        raise ValueError(f"parser spec: missing field 'kind' (one of {sorted(_KINDS)})")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"parser spec: unknown kind {kind!r} (one of {sorted(_KINDS)})")
    known = {f.name: f for f in fields(cls)}
    options = {key: value for key, value in spec.items() if key != "kind"}
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise ValueError(f"parser spec of kind {kind!r}: unknown field(s) {unknown} (allowed: {sorted(known)})")
    missing = [
        name
        for name, f in known.items()
        if name not in options and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ValueError(f"parser spec of kind {kind!r}: missing field(s) {missing}")
    try:
        parser: AnswerParser = cls(**options)
    except ValueError as exc:
        raise ValueError(f"parser spec of kind {kind!r}: {exc}") from None
    return parser
