"""Prompt length in the target model's own tokens.

Length is an objective (the length penalty, the Pareto front), so it is measured with the model's
tokenizer where we know it: llama.cpp's for local GGUFs, tiktoken for OpenAI's models, the server's
``/tokenize`` for a self-hosted server that has one (llama.cpp's server, vLLM). Otherwise it is an
estimate, about four characters per token, and the artifact says so. Never a generation request:
a length costs no tokens of the budget. Server counts are kept in the response cache, so a run
replays without the server.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.failures import RequestsFailed
from promptopt.llm.records import ChatResponse, Usage, estimate_tokens

SERVER_TOKENIZER = "server tokenizer (/tokenize)"
ESTIMATE = "estimate (~4 characters per token)"


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


async def local_token_lengths(texts: Sequence[str], client: LLMClient) -> list[TokenLength] | None:
    """Lengths by a tokenizer at hand without a request (the local model's, tiktoken's), or None."""
    count = getattr(client.backend, "acount_tokens", None)
    if count is not None:
        return [TokenLength(await count(text), "model tokenizer (llama.cpp)") for text in texts]
    identity = client.model_identity
    if identity.startswith("openai:"):
        encoding = _tiktoken_encoding(identity.split(":", 1)[1])
        if encoding is not None:
            return [TokenLength(len(encoding.encode(t)), f"tiktoken {encoding.name}") for t in texts]
    return None


async def token_lengths(texts: Sequence[str], client: LLMClient) -> list[TokenLength]:
    """Lengths of several texts, by the best tokenizer the model offers."""
    local = await local_token_lengths(texts, client)
    if local is not None:
        return local
    if not texts:
        return []
    counts = await _server_counts(texts, client)
    if counts is not None:
        return [TokenLength(n, SERVER_TOKENIZER) for n in counts]
    return [TokenLength(estimate_tokens(t), ESTIMATE) for t in texts]


def _key(identity: str, text: str) -> str:
    blob = json.dumps({"tokenize": text, "model": identity}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


async def _server_counts(texts: Sequence[str], client: LLMClient) -> list[int] | None:
    """The server's counts, from the cache where it holds them; None: the server has no tokenizer."""
    tokenize = getattr(client.backend, "atokenize", None)
    if tokenize is None:
        return None
    identity = client.model_identity
    keys = [_key(identity, t) for t in texts]
    cache = client.cache
    stored = cache.get_many(keys) if cache is not None else {}
    missing = [(k, t) for k, t in zip(keys, texts) if k not in stored]
    if missing:
        try:
            counts = await tokenize([t for _, t in missing])
        except RuntimeError as exc:
            raise RequestsFailed(f"counting prompt tokens on {client.endpoint}: {exc}") from None
        if counts is None:
            return None
        fresh = {k: ChatResponse(text=str(n), finish_reason="tokenize", usage=Usage(prompt_tokens=n))
                 for (k, _), n in zip(missing, counts)}
        if cache is not None:
            cache.put_many((k, identity, r) for k, r in fresh.items())
        stored = {**stored, **fresh}
    return [stored[k].usage.prompt_tokens for k in keys]
