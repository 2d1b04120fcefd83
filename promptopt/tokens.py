"""Prompt length in the target model's own tokens.

Length is an objective (the length penalty, the Pareto front), so it is measured with the model's
tokenizer where we know it: llama.cpp's for local GGUFs, tiktoken for OpenAI's models. Otherwise
the server counts: the prompt tokens of a request holding the text, minus those of an empty one
(the chat template's overhead); both requests are cached like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.failures import RequestsFailed, summarize_failures
from promptopt.llm.records import ChatRequest


@dataclass(frozen=True)
class TokenLength:
    """A token count and how it was obtained (shown in artifacts next to the number)."""

    value: int
    method: str


def _tiktoken_encoding(model: str) -> Any | None:
    """tiktoken's encoding for an OpenAI model, or None (unknown model, or no BPE file offline)."""
    try:
        import tiktoken

        return tiktoken.encoding_for_model(model)
    except Exception:  # noqa: BLE001 - unknown model names and offline machines both land here
        return None


async def token_length(text: str, client: LLMClient) -> TokenLength:
    return (await token_lengths([text], client))[0]


async def token_lengths(texts: Sequence[str], client: LLMClient) -> list[TokenLength]:
    """Lengths of several texts; the server-count fallback sends them as one batch."""
    count = getattr(client.backend, "acount_tokens", None)
    if count is not None:
        return [TokenLength(await count(text), "model tokenizer (llama.cpp)") for text in texts]
    identity = client.model_identity
    if identity.startswith("openai:"):
        encoding = _tiktoken_encoding(identity.split(":", 1)[1])
        if encoding is not None:
            return [TokenLength(len(encoding.encode(t)), f"tiktoken {encoding.name}") for t in texts]
    if not texts:
        return []
    measure = client.with_role("tokenize")
    requests = [ChatRequest.user("", max_tokens=1)] + [ChatRequest.user(t, max_tokens=1) for t in texts]
    empty, *fulls = await measure.complete(requests)
    failures = summarize_failures([empty, *fulls])
    if failures.failed:
        raise RequestsFailed(f"counting prompt tokens through the server: {failures.describe(client.endpoint)}")
    return [
        TokenLength(
            max(0, full.usage.prompt_tokens - empty.usage.prompt_tokens),
            "estimate (~4 characters per token)" if full.usage.estimated else "server count",
        )
        for full in fulls
    ]
