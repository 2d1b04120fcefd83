"""Request and response records shared by every backend, the cache and the ledger.

Records are frozen so that a request can be hashed into a cache key and a response can be handed
to many awaiting callers (coalescing) without anyone mutating it. Those persisted go through
pydantic (:mod:`promptopt.records`); what they write is byte for byte what the hand-written
code wrote, so cache rows and cache keys of earlier versions stay valid.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, Mapping, Sequence

from pydantic import BeforeValidator, PlainValidator, Strict, ValidationError

from promptopt import records

Role = Literal["system", "user", "assistant"]

def _number(value: Any) -> Any:
    """A number as read: an int stays an int, so a record read and written again is unchanged."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("Input should be a number")
    return value


#: A count read exactly: an integer, never a bool, a float or a string (machine-written records).
Count = Annotated[int, Strict()]
#: A float read and written exactly as given (an int stays an int); never a bool or a string.
Exact = Annotated[records.Number, PlainValidator(_number)]


def plain(record: object) -> dict[str, Any]:
    """A record of JSON-native fields as data, values untouched: pydantic's JSON mode would
    write an infinite float as null, unlike ``json.dumps``, which these records always used."""
    data: dict[str, Any] = records.adapter(type(record)).dump_python(record)
    return data


def _not_bool(value: Any) -> Any:
    """Lax number parsing would read ``true`` as 1: a bool is never a number here."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


#: Lax numbers for hand-edited settings ("0.5" reads as 0.5), never a bool; floats written as given.
LaxInt = Annotated[int, BeforeValidator(_not_bool)]
LaxFloat = Annotated[records.Number, BeforeValidator(_not_bool)]


@dataclass(frozen=True)
class Message(records.Record):
    """One chat message."""

    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """A chat-completion request, independent of the backend that serves it.

    ``sample_index`` distinguishes repeated samples of the same prompt: two requests that differ
    only in it are different cache entries, so "draw 5 samples" is replayable.
    """

    messages: tuple[Message, ...]
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    sample_index: int = 0

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("ChatRequest needs at least one message")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @classmethod
    def from_messages(
        cls, messages: Sequence[Mapping[str, str] | Message], **params: Any
    ) -> "ChatRequest":
        """Build a request from OpenAI-style message dicts."""
        msgs = tuple(
            m if isinstance(m, Message) else Message(role=m["role"], content=m["content"])
            for m in messages
        )
        if "stop" in params and params["stop"] is not None:
            stop = params["stop"]
            params["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        return cls(messages=msgs, **params)

    @classmethod
    def user(cls, text: str, **params: Any) -> "ChatRequest":
        """A single user message."""
        return cls(messages=(Message("user", text),), **params)

    def message_dicts(self) -> list[dict[str, str]]:
        """The messages as OpenAI-style dicts. Built by hand, not through pydantic: it runs twice
        per request sent (cache key and body), and ``tests/llm/test_cache.py`` checks both forms
        agree."""
        return [{"role": m.role, "content": m.content} for m in self.messages]

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters and sample index, as a plain dict (part of the cache key):
        :class:`Sampling`'s fields as it writes them, built by hand for the same reason."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "stop": list(self.stop), "seed": self.seed, "sample_index": self.sample_index}

    def effective_seed(self) -> int | None:
        """The seed a backend should send: distinct per sample index so samples differ."""
        if self.seed is None:
            return None if self.sample_index == 0 else self.sample_index
        return self.seed + self.sample_index * 1_000_003

    def fingerprint(self, model_identity: str) -> str:
        """Stable hash of everything that determines the answer (not URL, not key)."""
        payload = {
            "model": model_identity,
            "messages": self.message_dicts(),
            **self.sampling(),
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def approx_prompt_chars(self) -> int:
        return sum(len(m.content) for m in self.messages)


@dataclass(frozen=True)
class Usage(records.Record):
    """Token counts of one response; ``estimated`` is True when the server gave none."""

    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        """Both counts together (estimated when either was)."""
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.estimated or other.estimated)


@dataclass(frozen=True)
class ChatResponse(records.Record):
    """What came back for one request: a completion, or an error the caller decides about.

    Also the response cache's row format: :meth:`to_json` writes it (keys sorted, as always),
    :meth:`from_json` reads it back, a bad row raising :class:`~promptopt.records.RecordError`
    (a ``ValueError``) that names the field.
    """

    text: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: Exact = 0.0
    cached: bool = False
    error: str | None = None
    error_kind: str | None = None
    attempts: Count = 1

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failure(
        cls, error: str, kind: str, latency_s: float = 0.0, attempts: int = 1
    ) -> "ChatResponse":
        return cls(error=error, error_kind=kind, latency_s=latency_s, attempts=attempts)

    def as_cached(self) -> "ChatResponse":
        return replace(self, cached=True, latency_s=0.0, attempts=0)

    def to_dict(self) -> dict[str, Any]:
        """Values untouched (an infinite latency stays a float), as a local worker sends them."""
        return plain(self)

    def to_json(self) -> str:
        return json.dumps(plain(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, blob: str | bytes, *, where: str = "ChatResponse") -> "ChatResponse":
        """Parse and validate in one pass (pydantic's JSON parser: the cache's read path)."""
        try:
            return records.adapter(cls).validate_json(blob)
        except ValidationError as exc:
            raise records.RecordError(f"{where}: {records.describe(exc)}") from None


def estimate_tokens(text: str) -> int:
    """Rough token count (about 4 characters per token) when no tokenizer or server count exists."""
    return max(1, (len(text) + 3) // 4) if text else 0


def _no_stop(value: Any) -> Any:
    return () if value is None else value


@dataclass(frozen=True)
class Sampling(records.Record):
    """Sampling parameters shared by every request of an evaluation or a deployed prompt.

    Read laxly (hand-edited configs: ``"0.5"`` is 0.5, a ``null`` stop is none), bools refused.
    """

    temperature: LaxFloat = 0.0
    top_p: LaxFloat = 1.0
    max_tokens: LaxInt = 256
    stop: Annotated[tuple[str, ...], BeforeValidator(_no_stop)] = ()
    seed: LaxInt | None = None

    def request(self, messages: Sequence[Message], sample_index: int = 0) -> ChatRequest:
        return ChatRequest(
            messages=tuple(messages),
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            stop=self.stop,
            seed=self.seed,
            sample_index=sample_index,
        )
