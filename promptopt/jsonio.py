"""Decoding JSON that came from outside: a user's file or a model's answer.

The standard decoder recurses once per nesting level, so a document nested some thousands of
levels deep ends in ``RecursionError`` rather than a decode error. :func:`loads` turns that into a
:class:`json.JSONDecodeError` at the position where the nesting peaked, so every caller's existing
"file:line:column: not valid JSON" handling names the place, and a model that answers with
``[[[[…`` gives an unparsable answer rather than a crashed run.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """``json.loads``, with too-deep nesting reported as a :class:`json.JSONDecodeError`."""
    try:
        return json.loads(text)
    except RecursionError:
        document = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        depth, position = _deepest(document)
        raise json.JSONDecodeError(f"nested too deeply ({depth:,} levels)", document, position) from None


def raw_decode(text: str, start: int = 0) -> tuple[Any, int]:
    """``JSONDecoder().raw_decode`` (the first JSON value at ``start`` and where it ends), with
    too-deep nesting reported as a :class:`json.JSONDecodeError`."""
    try:
        return _DECODER.raw_decode(text, start)
    except RecursionError:
        depth, position = _deepest(text[start:])
        raise json.JSONDecodeError(f"nested too deeply ({depth:,} levels)", text, start + position) from None


_DECODER = json.JSONDecoder()


def brackets(text: str) -> tuple[list[tuple[int, str]], bool]:
    """The brackets of ``text`` that lie outside double-quoted strings, with their positions, and
    whether ``text`` ends inside a string (a reply cut off mid-value)."""
    found: list[tuple[int, str]] = []
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[]{}":
            found.append((index, char))
    return found, in_string


def _deepest(text: str) -> tuple[int, int]:
    """The greatest bracket depth outside strings and where it is first reached (only on the
    error path: a linear scan in Python)."""
    depth = deepest = where = 0
    for index, char in brackets(text)[0]:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, index
        else:
            depth -= 1
    return deepest, where
