"""OpenAI-compatible HTTP backend: vLLM's server, llama.cpp's server, OpenAI, a LiteLLM proxy.

One request per call: the client around it adds concurrency, limits, retries and caching. The SDK's
own retries are off (``max_retries=0``) so that there is one retry policy, ours. Requests go through
``AsyncOpenAI.post`` with our own JSON body and the body is parsed from the raw HTTP response: it
is cheaper than the SDK's typed path and lets a malformed body count as a retryable fault rather
than a crash.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from typing import Any, Sequence

from promptopt.llm.backends.base import PermanentError, TransientError
from promptopt.llm.records import ChatRequest, ChatResponse, Usage, estimate_tokens
from promptopt.llm.retry import parse_retry_after

#: Status codes that a retry can fix (besides 429 and 5xx).
_RETRYABLE_4XX = {408, 409}


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
    a server behind a proxy with basic auth. HTTP clients refuse a URL's credentials next to the
    SDK's bearer header, so they travel as the one Authorization header instead."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    if url is None:
        return None, {}
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    import base64

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
        import openai

        httpx = sdk_http_module(openai)
        self.model = model
        self.model_identity = identity or f"openai:{model}"
        self._openai = openai
        self._httpx = httpx
        client_class = (
            openai.DefaultAioHttpClient if _aiohttp_transport_available() else openai.DefaultAsyncHttpxClient
        )
        http_client = client_class(
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )
        base_url, auth_headers = basic_auth_from_url(base_url)
        self._tokenize_urls = _tokenize_urls(base_url)
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            default_headers=auth_headers or None,
            # Servers such as vLLM or llama.cpp accept any key; the SDK insists on one.
            api_key=api_key or "no-key",
            max_retries=0,
            timeout=timeout_s,
            http_client=http_client,
        )

    async def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        return [await self._complete_one(request) for request in requests]

    async def _complete_one(self, request: ChatRequest) -> ChatResponse:
        openai = self._openai
        start = time.monotonic()
        try:
            # ``post`` with ``cast_to=httpx.Response`` skips the SDK's parameter transformation
            # and model building (about 1 ms of CPU per request); errors are still the SDK's.
            raw = await self._client.post(
                "/chat/completions",
                body={"model": self.model, **request_body(request)},
                cast_to=self._httpx.Response,
            )
            content = await raw.aread()
        except openai.APITimeoutError as exc:
            refused = connect_failure(exc)
            if refused is not None:  # the aiohttp transport reports a refused connect as a timeout
                raise TransientError(
                    f"cannot connect: {refused}", "connection", sent=not never_sent(exc)
                ) from None
            raise TransientError("request timed out", "timeout") from None
        except openai.APIConnectionError as exc:
            reason = connect_failure(exc) or exc.__cause__ or exc
            raise TransientError(
                f"cannot connect: {reason}", "connection", sent=not never_sent(exc)
            ) from None
        except openai.APIStatusError as exc:
            raise classify_status(exc.status_code, _error_message(exc), exc.response.headers) from None
        latency = time.monotonic() - start
        try:
            payload = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise TransientError(
                f"malformed JSON body from server: {content[:80]!r}", "malformed"
            ) from None
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
        openai = self._openai
        try:
            raw = await self._client.post(
                url,
                body={"model": self.model, "content": text, "prompt": text, "input": text, "add_special": False,
                      "add_special_tokens": False},
                cast_to=self._httpx.Response,
            )
            payload = json.loads(await raw.aread())
        except openai.APIStatusError as exc:
            if exc.status_code in _NO_TOKENIZER:
                raise _NoTokenizer from None
            raise RuntimeError(f"POST {url}: {exc.status_code} {_error_message(exc)}") from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            refused = connect_failure(exc)  # the aiohttp transport reports a refused connect as a timeout
            raise RuntimeError(f"POST {url}: {f'cannot connect: {refused}' if refused else exc.__cause__ or exc}") from None
        except (openai.APIError, ValueError) as exc:
            raise RuntimeError(f"POST {url}: {exc}") from None
        tokens = payload.get("tokens") if isinstance(payload, dict) else None
        count = payload.get("count", len(tokens) if isinstance(tokens, list) else None) if isinstance(payload, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise RuntimeError(f"POST {url}: no token list in the answer: {str(payload)[:80]}")
        return count

    async def aclose(self) -> None:
        await self._client.close()


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


def sdk_http_module(openai: Any) -> Any:
    """The httpx-compatible module this openai SDK release is built on (httpx or httpx2)."""
    base = openai.DefaultAsyncHttpxClient.__mro__[1]
    return sys.modules[base.__module__.split(".")[0]]


def _aiohttp_transport_available() -> bool:
    """aiohttp as the SDK's transport costs about half the CPU per request of the default one."""
    import openai

    if importlib.util.find_spec("aiohttp") is None or not hasattr(openai, "DefaultAioHttpClient"):
        return False
    try:
        openai.DefaultAioHttpClient().__class__  # noqa: B018 - raises when the extra is missing
    except RuntimeError:
        return False
    return True


def classify_status(status: int, message: str, headers: Any = None) -> Exception:
    """Turn an HTTP error status into a Transient (retry) or Permanent error."""
    if status == 429:
        return TransientError(f"429 rate limited: {message}", "rate_limit", parse_retry_after(headers))
    if status >= 500 or status in _RETRYABLE_4XX:
        return TransientError(f"{status} server error: {message}", "server_error")
    if status in (401, 403):
        return PermanentError(f"{status} not authorized: {message} (check the API key)", "auth")
    if status == 404:
        return PermanentError(f"404 not found: {message} (check the model name and base URL)", "not_found")
    return PermanentError(f"{status} request rejected: {message}", "bad_request")


def connect_failure(exc: BaseException) -> str | None:
    """Why a connection could not be made ("Connection refused", an unknown host), from the
    exception's causes; None when the request did connect (a real timeout)."""
    import os

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and not isinstance(current, TimeoutError) and current.errno:
            return os.strerror(current.errno) if current.errno > 0 else str(current.strerror or current)
        current = current.__cause__ or current.__context__
    return None


#: aiohttp's exceptions for a connection that was never made (raised before a request's first
#: byte is written). Not the SDK's or httpx's: the SDK's aiohttp transport reports a reset of an
#: open connection as ``ConnectTimeout``, so only the transport's own cause can be trusted.
_CONNECT_ERRORS = frozenset({"ClientConnectorError", "ClientConnectorDNSError", "ConnectionTimeoutError"})


def never_sent(exc: BaseException) -> bool:
    """True when the request provably never reached the server: the connection was refused or
    never made (the ledger then charges nothing). A reset, a timeout or a broken body after
    connecting are charged: the server may have read the request, and usually did."""
    import socket

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionRefusedError, socket.gaierror)):
            return True
        if type(current).__name__ in _CONNECT_ERRORS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]
