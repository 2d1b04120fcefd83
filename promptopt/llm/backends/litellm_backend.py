"""Hosted providers through litellm; a litellm Router when several replicas serve one model.

litellm is imported on first use (it takes seconds) with its price map read locally, never
fetched. Its own retries are off: the client's retry policy applies, and with a Router each retry
may land on another replica, which is how a failing replica is routed around.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

from promptopt.errors import MissingKeyError
from promptopt.llm.backends.base import PermanentError, TransientError
from promptopt.llm.backends.json_http import classify_status
from promptopt.llm.backends.openai_http import request_body
from promptopt.llm.records import ChatRequest, ChatResponse, Usage, estimate_tokens


def import_litellm() -> Any:
    """Import litellm quietly and offline."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def check_provider_key(model: str, spec: str) -> None:
    """Fail early, naming the variable, when litellm knows the provider needs an unset key."""
    litellm = import_litellm()
    try:
        report = litellm.validate_environment(model=model)
    except Exception:  # noqa: BLE001 - an unknown provider is litellm's error to give later
        return
    missing = report.get("missing_keys") or []
    if missing:
        raise MissingKeyError(str(missing[0]), spec)


class LiteLLMBackend:
    """One model through ``litellm.acompletion``, or a Router over several base URLs."""

    native_batching = False

    def __init__(
        self,
        model: str,
        *,
        base_urls: Sequence[str] = (),
        api_key: str | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self._litellm = import_litellm()
        self.model = model
        self.model_identity = f"litellm:{model}"
        self._timeout_s = timeout_s
        # A self-hosted OpenAI-compatible replica accepts any key, but litellm insists on one.
        self._api_key = api_key or ("no-key" if base_urls else None)
        self._base_url = base_urls[0] if len(base_urls) == 1 else None
        self._router = None
        if len(base_urls) > 1:
            params = {"model": model, "timeout": timeout_s, "api_key": self._api_key}
            self._router = self._litellm.Router(
                model_list=[
                    {"model_name": model, "litellm_params": {**params, "api_base": url}}
                    for url in base_urls
                ],
                routing_strategy="simple-shuffle",
                num_retries=0,
                allowed_fails=1,
                cooldown_time=5,
            )

    async def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        return [await self._complete_one(request) for request in requests]

    async def _complete_one(self, request: ChatRequest) -> ChatResponse:
        kwargs = {"model": self.model, **request_body(request), "timeout": self._timeout_s}
        start = time.monotonic()
        try:
            if self._router is not None:
                result = await self._router.acompletion(**kwargs)
            else:
                if self._base_url:
                    kwargs["api_base"] = self._base_url
                if self._api_key:
                    kwargs["api_key"] = self._api_key
                result = await self._litellm.acompletion(num_retries=0, **kwargs)
        except Exception as exc:  # noqa: BLE001 - litellm wraps every provider's errors
            raise self._classify(exc) from None
        latency = time.monotonic() - start
        choice = result.choices[0]
        text = choice.message.content or ""
        usage = getattr(result, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            counts = Usage(int(usage.prompt_tokens), int(usage.completion_tokens or 0), False)
        else:
            prompt = sum(estimate_tokens(m.content) for m in request.messages)
            counts = Usage(prompt, estimate_tokens(text), True)
        return ChatResponse(
            text=text, finish_reason=choice.finish_reason, usage=counts, latency_s=latency
        )

    def _classify(self, exc: Exception) -> Exception:
        lite = self._litellm
        message = str(getattr(exc, "message", exc))[:300]
        if isinstance(exc, lite.Timeout):
            return TransientError(f"request timed out: {message}", "timeout")
        if isinstance(exc, lite.APIConnectionError):
            return TransientError(f"connection failed: {message}", "connection")
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None) or getattr(
                exc, "litellm_response_headers", None
            )
            return classify_status(status, message, headers)
        if "No deployments available" in message or "cooldown" in message.lower():
            return TransientError(message, "no_deployment")
        return PermanentError(f"{type(exc).__name__}: {message}", "provider_error")

    async def aclose(self) -> None:
        return None
