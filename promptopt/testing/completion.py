"""Turning a policy's answer into the completion the server sends (truncation, usage)."""

from __future__ import annotations

from dataclasses import dataclass

from promptopt.testing import accounting
from promptopt.testing.policies import PolicyReply, PolicyRequest, PolicyResult


@dataclass(frozen=True)
class Completion:
    """What one successful chat request returns."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def finish(result: PolicyResult, request: PolicyRequest, fault: str | None = None) -> Completion:
    """Apply max_tokens truncation, default usage and the "empty"/"length" faults.

    Replies longer than ``max_tokens`` words are cut and get ``finish_reason="length"`` (a
    policy's own token count then no longer applies). The "empty" fault sends "" with 0
    completion tokens; the "length" fault keeps the first half of the words and says "length".
    """
    reply = result if isinstance(result, PolicyReply) else PolicyReply(str(result))
    text, truncated = accounting.truncate(reply.text, request.max_tokens)
    finish_reason = "length" if truncated else (reply.finish_reason or "stop")
    completion_tokens = reply.completion_tokens
    if truncated or completion_tokens is None:
        completion_tokens = accounting.completion_tokens(text)
    if fault == "empty":
        text, completion_tokens = "", 0
    elif fault == "length":
        words = text.split()
        if not truncated:
            text = " ".join(words[: (len(words) + 1) // 2])
            completion_tokens = accounting.completion_tokens(text)
        finish_reason = "length"
    prompt_tokens = reply.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = accounting.prompt_tokens(request.messages)
    return Completion(text, finish_reason, prompt_tokens, completion_tokens)
