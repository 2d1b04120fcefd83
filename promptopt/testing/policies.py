"""Policies: what the fake model answers. Pure, deterministic callables.

A policy takes a :class:`PolicyRequest` and returns the reply text, or a :class:`PolicyReply`
when it also wants to set the finish reason or the token counts. It may also return an
awaitable of either (it then runs on the server's event loop, so it must not block).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence, Union


@dataclass(frozen=True)
class PolicyRequest:
    """The parts of a chat request a policy may look at.

    ``messages`` holds ``(role, content)`` pairs with list-of-parts contents flattened to text;
    ``body`` is the raw JSON request (not part of equality).
    """

    model: str
    messages: tuple[tuple[str, str], ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    body: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def last_user(self) -> str:
        """Content of the last ``user`` message ("" when there is none)."""
        for role, content in reversed(self.messages):
            if role == "user":
                return content
        return ""


@dataclass(frozen=True)
class PolicyReply:
    """A reply with optional overrides; ``None`` fields are computed by the server."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


PolicyResult = Union[str, PolicyReply]
Policy = Callable[[PolicyRequest], Union[PolicyResult, Awaitable[PolicyResult]]]


def echo() -> Policy:
    """Reply with the last user message, verbatim."""

    def policy(request: PolicyRequest) -> str:
        return request.last_user

    policy.__qualname__ = "echo"
    return policy


def constant(text: str = "OK") -> Policy:
    """Always reply ``text``."""

    def policy(request: PolicyRequest) -> str:
        return text

    policy.__qualname__ = f"constant({text!r})"
    return policy


Rule = tuple[Union[str, "re.Pattern[str]"], Union[PolicyResult, Callable[..., PolicyResult]]]


def scripted(rules: Sequence[Rule], default: PolicyResult | Policy = "OK") -> Policy:
    """Reply by the first rule whose regex matches the last user message (``re.search``).

    A rule's reply is a ``str``/:class:`PolicyReply`, or a callable ``(request, match)`` returning
    one. ``default`` (a reply, or a policy called with the request) answers when nothing matches.
    """
    compiled = [(re.compile(pattern), reply) for pattern, reply in rules]

    def policy(request: PolicyRequest) -> PolicyResult:
        text = request.last_user
        for pattern, reply in compiled:
            match = pattern.search(text)
            if match is not None:
                return reply(request, match) if callable(reply) else reply
        return default(request) if callable(default) else default  # type: ignore[return-value]

    policy.__qualname__ = "scripted"
    return policy


#: Vocabulary of :func:`hashed`: 64 words, so one byte of digest picks one word.
_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu red orange "
    "yellow green blue indigo violet black white grey amber coral ivory olive plum ruby "
    "sand teal azure beige cedar cobalt copper crimson denim ebony emerald gold "
    "lemon lilac maroon mint navy ochre pearl rose rust salmon"
).split()
assert len(_WORDS) == 64


def hashed(words: int = 12) -> Policy:
    """Deterministic pseudo-random ``words``-word replies.

    The words come from a sha256 of (messages, seed, temperature): the same request always gets
    the same text, different requests almost surely different texts.
    """
    if words < 0:
        raise ValueError("words must be >= 0")

    def policy(request: PolicyRequest) -> str:
        material = json.dumps(
            [list(map(list, request.messages)), request.seed, request.temperature],
            separators=(",", ":"),
        ).encode()
        out: list[str] = []
        block = hashlib.sha256(material).digest()
        while len(out) < words:
            out.extend(_WORDS[b % 64] for b in block)
            block = hashlib.sha256(block).digest()
        return " ".join(out[:words])

    policy.__qualname__ = f"hashed({words})"
    return policy


#: Built-in policy factories by name (used by ``python -m promptopt.testing serve --policy``).
POLICIES: Mapping[str, Callable[..., Policy]] = {
    "echo": echo,
    "hashed": hashed,
    "constant": constant,
}
