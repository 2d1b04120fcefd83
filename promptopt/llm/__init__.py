"""Model access: one async batch API over every backend, with cache, limits, retries and usage.

Start with :func:`connect`::

    from promptopt.llm import ChatRequest, connect
    client = connect("local")
    [reply] = client.complete_sync([ChatRequest.user("Say hi", max_tokens=16)])
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.llm.backends.base": ("Backend",),
    "promptopt.llm.cache": ("ResponseCache",),
    "promptopt.llm.client": ("LLMClient",),
    "promptopt.llm.connection": ("connect",),
    "promptopt.llm.ledger": ("RoleUsage", "UsageLedger"),
    "promptopt.llm.limits": ("EndpointLimiter", "Limits"),
    "promptopt.llm.records": ("ChatRequest", "ChatResponse", "Message", "Usage"),
    "promptopt.llm.retry": ("RetryPolicy",),
    "promptopt.llm.spec": ("ModelSpec", "parse_model_spec"),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
