"""Turn a model spec into a ready client: backend, key from the environment, limits, price."""

from __future__ import annotations

import os
from typing import Literal

from promptopt.errors import MissingKeyError
from promptopt.llm.backends.base import Backend
from promptopt.llm.cache import ResponseCache
from promptopt.llm.catalog import CATALOG, resolve_named_model
from promptopt.llm.client import LLMClient
from promptopt.llm.ledger import UsageLedger
from promptopt.llm.limits import Limits
from promptopt.llm.pricing import Price, lookup_price
from promptopt.llm.retry import RetryPolicy
from promptopt.llm.spec import ModelSpec, parse_model_spec

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def resolve_api_key(spec: ModelSpec) -> str | None:
    """The key for ``spec`` from the environment; keys are never part of the spec itself.

    OpenAI's own API always needs one; a self-hosted base URL needs one only when the spec names
    a ``key_env``; otherwise ``OPENAI_API_KEY`` is sent when it is set.
    """
    if spec.backend not in ("openai", "litellm"):
        return None
    explicit = spec.key_env
    variable = explicit or (DEFAULT_KEY_ENV if spec.backend == "openai" else None)
    value = os.environ.get(variable) if variable else None
    required = explicit is not None or (spec.backend == "openai" and spec.base_url is None)
    if required and not value:
        raise MissingKeyError(variable or DEFAULT_KEY_ENV, spec.raw)
    if value:
        from promptopt.redact import remember

        remember(value)  # a server may echo it back in an error: never print or store it
    return value or None


def limits_for(spec: ModelSpec, base: Limits | None = None) -> Limits:
    """Default limits, overridden by the spec's ``max_concurrency``, ``rpm`` and ``tpm``."""
    base = base or Limits()
    return Limits(
        max_concurrency=int(spec.option("max_concurrency", base.max_concurrency)),  # type: ignore[arg-type]
        requests_per_minute=spec.option("rpm", base.requests_per_minute),  # type: ignore[arg-type]
        tokens_per_minute=spec.option("tpm", base.tokens_per_minute),  # type: ignore[arg-type]
        burst_s=base.burst_s,
    )


def retry_for(spec: ModelSpec, base: RetryPolicy | None = None) -> RetryPolicy:
    """Default retry policy, overridden by the spec's ``timeout`` and ``max_attempts``."""
    base = base or RetryPolicy()
    return RetryPolicy(
        max_attempts=int(spec.option("max_attempts", base.max_attempts)),  # type: ignore[arg-type]
        timeout_s=float(spec.option("timeout", base.timeout_s)),  # type: ignore[arg-type]
        initial_backoff_s=base.initial_backoff_s,
        max_backoff_s=base.max_backoff_s,
        deadline_s=base.deadline_s,
        max_retry_after_s=base.max_retry_after_s,
    )


def build_backend(spec: ModelSpec, *, limits: Limits, retry: RetryPolicy) -> Backend:
    """Instantiate the backend a spec names (heavy imports happen here, not at import time)."""
    if spec.backend == "local":
        from promptopt.llm.backends.local import LocalBackend

        path = (
            None
            if spec.model == "embedded"
            else resolve_named_model(spec.model) if spec.model in CATALOG else spec.model
        )
        parallel = spec.option("parallel", "auto")
        return LocalBackend(
            path,
            workers=int(spec.option("workers", 1)),  # type: ignore[arg-type]
            n_threads=spec.option("threads"),  # type: ignore[arg-type]
            max_restarts=int(spec.option("max_restarts", 3)),  # type: ignore[arg-type]
            parallel=None if parallel == "auto" else int(parallel),  # type: ignore[arg-type]
            reuse_prefix=bool(spec.option("reuse_prefix", 1)),
        )
    if spec.backend == "vllm":
        from promptopt.llm.backends.vllm_backend import VLLMBackend

        return VLLMBackend(spec.model)
    api_key = resolve_api_key(spec)
    if spec.backend == "litellm":
        from promptopt.llm.backends.litellm_backend import LiteLLMBackend, check_provider_key

        if api_key is None and not spec.base_urls:
            check_provider_key(spec.model, spec.raw)
        return LiteLLMBackend(
            spec.model, base_urls=spec.base_urls, api_key=api_key, timeout_s=retry.timeout_s
        )
    from promptopt.llm.backends.openai_http import OpenAIBackend

    return OpenAIBackend(
        spec.model,
        base_url=spec.base_url,
        api_key=api_key,
        timeout_s=retry.timeout_s,
        max_connections=limits.max_concurrency,
    )


def price_for(spec: ModelSpec) -> Price | None:
    """The spec's own price (``?usd_per_mtok_in=…&usd_per_mtok_out=…``), else a hosted model's
    from litellm's table; None (unknown, never zero) for self-hosted and local models without one."""
    per_in, per_out = spec.option("usd_per_mtok_in"), spec.option("usd_per_mtok_out")
    if per_in is not None and per_out is not None:
        return Price(float(per_in) / 1e6, float(per_out) / 1e6)
    if spec.backend == "litellm" or (spec.backend == "openai" and spec.base_url is None):
        return lookup_price(spec.model)
    return None


def connect(
    spec: str | ModelSpec,
    *,
    role: str = "downstream",
    cache: ResponseCache | None | Literal["default"] = "default",
    ledger: UsageLedger | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    seed: int = 0,
) -> LLMClient:
    """A client for ``spec`` (e.g. ``"local"`` or ``"openai:gpt-4o-mini"``).

    ``cache="default"`` opens the user's response cache; pass ``None`` to disable caching or a
    :class:`ResponseCache` to share one. Errors name the flag, variable or extra to fix.

    The default cache is opened (and so checked) before the backend is built: an unusable cache
    is reported before a local model is loaded or any request can be sent.
    """
    parsed = parse_model_spec(spec) if isinstance(spec, str) else spec
    limits = limits_for(parsed, limits)
    retry = retry_for(parsed, retry)
    opened = ResponseCache() if cache == "default" else None
    try:
        backend = build_backend(parsed, limits=limits, retry=retry)
    except BaseException:
        if opened is not None:
            opened.close()
        raise
    return LLMClient(
        backend,
        role=role,
        cache=opened if cache == "default" else cache,
        ledger=ledger,
        limits=limits,
        retry=retry,
        price=price_for(parsed),
        seed=seed,
        endpoint=parsed.raw or None,
    )
