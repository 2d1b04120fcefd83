"""The OpenAI wire format: reading chat requests, writing completions, models and errors."""

from __future__ import annotations

import json
from typing import Any, Mapping

from promptopt.testing.policies import PolicyRequest

#: (type, code) of the error body sent with each status.
ERROR_KINDS: Mapping[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    411: ("invalid_request_error", "length_required"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    431: ("invalid_request_error", "headers_too_large"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "service_unavailable"),
}

#: Body of the "malformed" fault: a 200 whose JSON stops half way.
MALFORMED_BODY = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index": 0, "mess'


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(status: int, message: str) -> bytes:
    """An OpenAI-style ``{"error": {...}}`` body for ``status``."""
    kind, code = ERROR_KINDS.get(status, ("server_error", str(status)))
    return dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def format_seconds(seconds: float) -> str:
    """Header form of a duration: ``"2"`` when whole, else a decimal like ``"0.25"``."""
    value = round(float(seconds), 6)
    return str(int(value)) if value.is_integer() else repr(value)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
        return "\n".join(texts)
    raise ValueError("message content must be a string, a list of parts or null")


def _number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{name}' must be a number")
    return float(value)


def _integer(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer")
    return value


def parse_chat_request(body: Mapping[str, Any], default_model: str) -> PolicyRequest:
    """Validate a chat completion body; raises ValueError with a client-facing message."""
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise ValueError("'messages' must be a non-empty list")
    messages = []
    for message in raw_messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError("each message must be an object with a string 'role'")
        messages.append((message["role"], _content_text(message.get("content"))))
    model = body.get("model", default_model)
    if not isinstance(model, str):
        raise ValueError("'model' must be a string")
    max_tokens = _integer(body, "max_tokens")
    if max_tokens is None:
        max_tokens = _integer(body, "max_completion_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError("'max_tokens' must be >= 1")
    n = _integer(body, "n")
    if n is not None and n != 1:
        raise ValueError("only n=1 is supported")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stop = tuple(stop)
    elif stop is not None:
        raise ValueError("'stop' must be a string or a list of strings")
    return PolicyRequest(
        model=model,
        messages=tuple(messages),
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        max_tokens=max_tokens,
        stop=stop,
        seed=_integer(body, "seed"),
        body=body,
    )


def completion_body(
    completion_id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    with_choice: bool = True,
) -> bytes:
    """A standard non-streaming ``chat.completion`` object (``with_choice=False``: the
    "no_choices" fault, an empty ``choices`` list with the usage still reported)."""
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": finish_reason,
        "logprobs": None,
    }
    return dumps(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice] if with_choice else [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def model_record(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "promptopt-testing"}


def models_body(model: str) -> bytes:
    """``GET /v1/models``: the one served model."""
    return dumps({"object": "list", "data": [model_record(model)]})
