"""Deterministic token accounting, so tests can predict ``usage`` exactly.

There is no tokenizer: a "token" is a whitespace-separated word.

* prompt tokens = sum over messages of ``len(content.split()) + 4``
  (the 4 stands for the per-message role/formatting overhead real chat templates add);
* completion tokens = ``len(reply.split())``.
"""

from __future__ import annotations

from typing import Iterable

#: Tokens charged per message on top of its words (role and template overhead).
PER_MESSAGE_OVERHEAD = 4


def prompt_tokens(messages: Iterable[tuple[str, str]]) -> int:
    """Prompt tokens of ``(role, content)`` pairs: words + 4 per message."""
    return sum(len(content.split()) + PER_MESSAGE_OVERHEAD for _, content in messages)


def completion_tokens(text: str) -> int:
    """Completion tokens of a reply: its whitespace-separated words."""
    return len(text.split())


def truncate(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """Cut ``text`` to ``max_tokens`` words; returns ``(text, was_truncated)``.

    An untruncated text is returned unchanged (whitespace kept); a truncated one is its first
    ``max_tokens`` words joined by single spaces.
    """
    if max_tokens is None:
        return text, False
    words = text.split()
    if len(words) <= max_tokens:
        return text, False
    return " ".join(words[:max_tokens]), True
