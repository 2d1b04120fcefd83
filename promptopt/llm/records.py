"""Request and response records shared by every backend, the cache and the ledger.

Records are frozen so that a request can be hashed into a cache key and a response can be handed
to many awaiting callers (coalescing) without anyone mutating it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Mapping, Sequence

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


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
        return [m.to_dict() for m in self.messages]

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters and sample index, as a plain dict (part of the cache key)."""
        params = Sampling(self.temperature, self.top_p, self.max_tokens, self.stop, self.seed)
        return {**params.to_dict(), "sample_index": self.sample_index}

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
class Usage:
    """Token counts of one response; ``estimated`` is True when the server gave none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        """Both counts together (estimated when either was)."""
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.estimated or other.estimated)


@dataclass(frozen=True)
class ChatResponse:
    """What came back for one request: a completion, or an error the caller decides about."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 1

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
        # Written out by hand: dataclasses.asdict's deep copy costs more than the cache write.
        usage = self.usage
        return {
            "attempts": self.attempts,
            "cached": self.cached,
            "error": self.error,
            "error_kind": self.error_kind,
            "finish_reason": self.finish_reason,
            "latency_s": self.latency_s,
            "text": self.text,
            "usage": {
                "completion_tokens": usage.completion_tokens,
                "estimated": usage.estimated,
                "prompt_tokens": usage.prompt_tokens,
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChatResponse":
        fields = dict(data)
        fields["usage"] = Usage(**fields.get("usage", {}))
        return cls(**fields)

    @classmethod
    def from_json(cls, blob: str) -> "ChatResponse":
        return cls.from_dict(json.loads(blob))


def estimate_tokens(text: str) -> int:
    """Rough token count (about 4 characters per token) when no tokenizer or server count exists."""
    return max(1, (len(text) + 3) // 4) if text else 0


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters shared by every request of an evaluation or a deployed prompt."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Sampling":
        return cls(
            temperature=float(data.get("temperature", 0.0)),
            top_p=float(data.get("top_p", 1.0)),
            max_tokens=int(data.get("max_tokens", 256)),
            stop=tuple(str(s) for s in data.get("stop", ()) or ()),
            seed=None if data.get("seed") is None else int(data["seed"]),
        )
