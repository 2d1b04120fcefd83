"""Model access: one async batch API over every backend, with cache, limits, retries and usage.

Start with :func:`connect`::

    from promptopt.llm import ChatRequest, connect
    client = connect("local")
    [reply] = client.complete_sync([ChatRequest.user("Say hi", max_tokens=16)])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports

__all__ = [
    "Backend",
    "ChatRequest",
    "ChatResponse",
    "EndpointLimiter",
    "LLMClient",
    "Limits",
    "Message",
    "ModelSpec",
    "ResponseCache",
    "RetryPolicy",
    "RoleUsage",
    "Usage",
    "UsageLedger",
    "connect",
    "parse_model_spec",
]

_WHERE = {
    "Backend": "promptopt.llm.backends.base",
    "ChatRequest": "promptopt.llm.records",
    "ChatResponse": "promptopt.llm.records",
    "Message": "promptopt.llm.records",
    "Usage": "promptopt.llm.records",
    "EndpointLimiter": "promptopt.llm.limits",
    "Limits": "promptopt.llm.limits",
    "LLMClient": "promptopt.llm.client",
    "ModelSpec": "promptopt.llm.spec",
    "parse_model_spec": "promptopt.llm.spec",
    "ResponseCache": "promptopt.llm.cache",
    "RetryPolicy": "promptopt.llm.retry",
    "RoleUsage": "promptopt.llm.ledger",
    "UsageLedger": "promptopt.llm.ledger",
    "connect": "promptopt.llm.connection",
}

if TYPE_CHECKING:
    from promptopt.llm.backends.base import Backend
    from promptopt.llm.cache import ResponseCache
    from promptopt.llm.client import LLMClient
    from promptopt.llm.connection import connect
    from promptopt.llm.ledger import RoleUsage, UsageLedger
    from promptopt.llm.limits import EndpointLimiter, Limits
    from promptopt.llm.records import ChatRequest, ChatResponse, Message, Usage
    from promptopt.llm.retry import RetryPolicy
    from promptopt.llm.spec import ModelSpec, parse_model_spec


__getattr__ = lazy_exports(__name__, _WHERE)
