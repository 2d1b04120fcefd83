"""JSON over HTTP to an OpenAI-compatible server, on aiohttp directly.

Why not the openai SDK's client: its request path (options copied per request, httpx request and
response models, header normalisation) cost about 1 ms of CPU per request on this project's
2-core machine, three times what aiohttp itself costs. At a vLLM server's hundreds of requests per
second that CPU delays every reply (``bench/throughput.py``). This module keeps only what a chat
request needs: one connection pool, the SDK's environment conventions (``OPENAI_BASE_URL``,
organization and project headers, a proxy from the environment, certifi's CA bundle), and failures
sorted into retryable and permanent ones, each saying whether the request can have reached the
server (the ledger charges those).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from typing import Any, Mapping

import aiohttp

from promptopt._version import __version__
from promptopt.llm.backends.base import PermanentError, TransientError
from promptopt.llm.retry import parse_retry_after

#: Where ``openai:MODEL`` goes without a base URL (the SDK's default, and its variable to change it).
OPENAI_API_BASE = "https://api.openai.com/v1"

#: Status codes that a retry can fix (besides 429 and 5xx).
_RETRYABLE_4XX = {408, 409}

#: A connection that was never made: aiohttp raises these before a request's first byte is written.
_NEVER_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


class HttpStatusError(Exception):
    """A non-2xx answer: its status, the server's message, and its headers (for Retry-After)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.headers = headers


class JsonHttp:
    """POSTs JSON bodies to one server and returns the parsed JSON answers.

    The aiohttp session is made on first use, inside the running event loop, and closed by
    :meth:`aclose`. Transport failures raise :class:`TransientError`; a non-2xx status raises
    :class:`HttpStatusError` for the caller to classify (a chat request and a tokenize probe read
    the same status differently).
    """

    def __init__(
        self,
        base_url: str | None,
        *,
        api_key: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 120.0,
        max_connections: int = 64,
    ) -> None:
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_API_BASE).rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"promptopt/{__version__}",
            **_openai_account_headers(),
            **(headers or {}),
        }
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(timeout_s, 10.0), sock_read=timeout_s)
        self._max_connections = max_connections
        self._proxy = _env_proxy(self.base_url)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def url(self, path: str) -> str:
        """``path`` under the base URL; an absolute URL stays as it is."""
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    async def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """The parsed JSON answer to ``POST path`` with ``body``."""
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        try:
            # No redirects: aiohttp would follow a 301/302 with a GET and drop the body.
            async with self._session_now().post(
                self.url(path), data=data, proxy=self._proxy, allow_redirects=False
            ) as reply:
                content = await reply.read()
                status, headers = reply.status, reply.headers
        except _NEVER_CONNECTED as exc:
            raise TransientError(f"cannot connect: {_reason(exc)}", "connection", sent=False) from None
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise TransientError("request timed out", "timeout") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise TransientError(f"connection lost: {_reason(exc)}", "connection") from None
        except aiohttp.ClientResponseError as exc:  # not HTTP (a garbled status line or header)
            raise TransientError(f"malformed HTTP response: {exc.message}", "malformed") from None
        except aiohttp.InvalidURL as exc:
            raise PermanentError(f"invalid URL {exc}: check the base URL", "bad_request") from None
        if 300 <= status < 400:
            raise HttpStatusError(status, f"redirected to {headers.get('Location', '(no Location)')}", headers)
        if status >= 400:
            raise HttpStatusError(status, _error_message(content), headers)
        try:
            return json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise TransientError(f"malformed JSON body from server: {content[:80]!r}", "malformed") from None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._closed:  # a request still running when its run ended: opening a pool would leak it
            raise PermanentError(f"POST to {self.base_url} after the client was closed", "cancelled")
        if self._session is None:
            secure = self.base_url.startswith("https:")  # loading CAs takes tens of ms: only when used
            connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=_ssl_context() if secure else True)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, timeout=self._timeout
            )
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


def classify_status(status: int, message: str, headers: Any = None) -> Exception:
    """Turn an HTTP error status into a Transient (retry) or Permanent error."""
    if status == 429:
        return TransientError(f"429 rate limited: {message}", "rate_limit", parse_retry_after(headers))
    if status >= 500 or status in _RETRYABLE_4XX:
        return TransientError(f"{status} server error: {message}", "server_error")
    if status in (401, 403):
        return PermanentError(f"{status} not authorized: {message} (check the API key)", "auth")
    if 300 <= status < 400:
        return PermanentError(f"{status} {message}: use that address in the model spec", "bad_request")
    if status == 404:
        return PermanentError(f"404 not found: {message} (check the model name and base URL)", "not_found")
    return PermanentError(f"{status} request rejected: {message}", "bad_request")


def _openai_account_headers() -> dict[str, str]:
    """The SDK's organization and project headers, from the same variables."""
    pairs = (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project"))
    return {header: os.environ[name] for name, header in pairs if os.environ.get(name)}


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``…), found once: a
    lookup per request (aiohttp's ``trust_env``) costs two thread hops each. A loopback server is
    never proxied, whatever the variables say."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or host == "localhost" or host.startswith("127.") or host == "::1" or proxy_bypass(host):
        return None
    return getproxies().get(parts.scheme)


def _ssl_context() -> ssl.SSLContext | bool:
    """certifi's CA bundle where it is installed (as the SDK verifies), else the system's."""
    try:
        import certifi
    except ImportError:
        return True
    return ssl.create_default_context(cafile=certifi.where())


def _reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection ("Connection refused"), else aiohttp's."""
    error = getattr(exc, "os_error", None) or exc
    if isinstance(error, OSError) and error.errno and error.errno > 0:
        return os.strerror(error.errno)
    return str(exc) or type(exc).__name__


def _error_message(content: bytes) -> str:
    """The server's own message from an error body (OpenAI's ``{"error": {"message": …}}``)."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return content[:300].decode("utf-8", "replace").strip() or "(empty body)"
    inner = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"])[:300]
    if isinstance(inner, str):
        return inner[:300]
    return str(body)[:300]
