"""OpenAI-compatible HTTP backend: vLLM's server, llama.cpp's server, OpenAI, a LiteLLM proxy.

One request per call: the client around it adds concurrency, limits, retries and caching, so there
is one retry policy, ours. Requests go out as our own JSON body through :class:`JsonHttp` (aiohttp,
without the openai SDK's per-request CPU) and the body is parsed here, so that a malformed body
counts as a retryable fault rather than a crash.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from promptopt.llm.backends.base import PermanentError, TransientError
from promptopt.llm.backends.json_http import HttpStatusError, JsonHttp, classify_status
from promptopt.llm.records import ChatRequest, ChatResponse, Usage, estimate_tokens

__all__ = ["OpenAIBackend", "request_body", "response_from_payload"]


def request_body(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``chat.completions.create`` (empty stop lists are omitted)."""
    body: dict[str, Any] = {
        "messages": request.message_dicts(),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
    }
    if request.stop:
        body["stop"] = list(request.stop)
    seed = request.effective_seed()
    if seed is not None:
        body["seed"] = seed
    return body


def response_from_payload(
    payload: dict[str, Any], request: ChatRequest, latency_s: float
) -> ChatResponse:
    """Map an OpenAI chat.completion JSON object to a ChatResponse.

    A body without a usable choice is a retryable "malformed" failure that still carries the
    usage the server reported, if any: those tokens were spent and the ledger charges them.
    """
    reported = reported_usage(payload)
    try:
        choice = payload["choices"][0]
        text = choice["message"].get("content") or ""
        finish_reason = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise TransientError(
            f"malformed completion object: {exc!r}", "malformed", usage=reported
        ) from None
    if reported is None:
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        reported = Usage(prompt, estimate_tokens(text), True)
    return ChatResponse(text=text, finish_reason=finish_reason, usage=reported, latency_s=latency_s)


def reported_usage(payload: dict[str, Any]) -> Usage | None:
    """The server's own token counts from a completion object, or None when it gave none."""
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    try:
        return Usage(int(usage["prompt_tokens"]), int(usage["completion_tokens"]), False)
    except (KeyError, TypeError, ValueError):
        return None


def basic_auth_from_url(url: str | None) -> tuple[str | None, dict[str, str]]:
    """``http://user:pass@host/v1`` → (``http://host/v1``, an ``Authorization: Basic`` header):
    a server behind a proxy with basic auth. HTTP clients refuse a URL's credentials next to a
    bearer header, so they travel as the one Authorization header instead."""
    if url is None:
        return None, {}
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port is not None else ""
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


class OpenAIBackend:
    """Serves one model of an OpenAI-compatible endpoint."""

    native_batching = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_connections: int = 64,
        identity: str | None = None,
    ) -> None:
        self.model = model
        self.model_identity = identity or f"openai:{model}"
        base_url, auth_headers = basic_auth_from_url(base_url)
        self._tokenize_urls = _tokenize_urls(base_url)
        self._http = JsonHttp(
            base_url,
            # Servers such as vLLM or llama.cpp accept any key; hosted APIs answer 401 without one.
            api_key=api_key or "no-key",
            headers=auth_headers,
            timeout_s=timeout_s,
            max_connections=max_connections,
        )

    async def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        return [await self._complete_one(request) for request in requests]

    async def _complete_one(self, request: ChatRequest) -> ChatResponse:
        start = time.monotonic()
        try:
            payload = await self._http.post("chat/completions", {"model": self.model, **request_body(request)})
        except HttpStatusError as exc:
            raise classify_status(exc.status, exc.message, exc.headers) from None
        latency = time.monotonic() - start
        if not isinstance(payload, dict):
            raise TransientError("malformed JSON body from server: not an object", "malformed")
        return response_from_payload(payload, request, latency)

    async def atokenize(self, texts: Sequence[str]) -> list[int] | None:
        """Token counts of ``texts`` from the server's own tokenizer, or None when the server has
        none (hosted APIs): ``POST /tokenize`` beside ``/v1`` (llama.cpp's server, vLLM), else
        ``/extras/tokenize`` (llama-cpp-python's server). Which one works is found once."""
        counts: list[int] = []
        for text in texts:
            while True:
                if not self._tokenize_urls:
                    return None
                try:
                    counts.append(await self._tokenize_one(self._tokenize_urls[0], text))
                    break
                except _NoTokenizer:
                    if counts:  # it worked for an earlier text: this is a failure, not an absence
                        raise RuntimeError(f"POST {self._tokenize_urls[0]}: refused after earlier answers") from None
                    self._tokenize_urls.pop(0)
        return counts

    async def _tokenize_one(self, url: str, text: str) -> int:
        try:
            payload = await self._http.post(
                url,
                {"model": self.model, "content": text, "prompt": text, "input": text, "add_special": False,
                 "add_special_tokens": False},
            )
        except HttpStatusError as exc:
            if exc.status in _NO_TOKENIZER:
                raise _NoTokenizer from None
            raise RuntimeError(f"POST {url}: {exc.status} {exc.message}") from None
        except (TransientError, PermanentError) as exc:
            raise RuntimeError(f"POST {url}: {exc}") from None
        tokens = payload.get("tokens") if isinstance(payload, dict) else None
        count = payload.get("count", len(tokens) if isinstance(tokens, list) else None) if isinstance(payload, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise RuntimeError(f"POST {url}: no token list in the answer: {str(payload)[:80]}")
        return count

    async def aclose(self) -> None:
        await self._http.aclose()


#: Statuses that mean "this server has no /tokenize" (not "it failed").
_NO_TOKENIZER = (400, 404, 405, 501)


class _NoTokenizer(Exception):
    """The server has no tokenizer at this address."""


def _tokenize_urls(base_url: str | None) -> list[str]:
    """Where a self-hosted server may tokenize (its root: ``…/v1`` stripped); none for hosted APIs."""
    if not base_url:
        return []
    root = base_url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    return [root + "/tokenize", root + "/extras/tokenize"]
