"""litellm backend: single endpoint, Router load balancing and fallback, provider key checks."""

from __future__ import annotations

import pytest

from promptopt.errors import MissingKeyError
from promptopt.llm.connection import connect, price_for
from promptopt.llm.records import ChatRequest
from promptopt.llm.spec import parse_model_spec
from promptopt.testing import FaultPlan


def _requests(n: int) -> list[ChatRequest]:
    return [ChatRequest.user(f"route {i}", max_tokens=8) for i in range(n)]


@pytest.mark.asyncio
async def test_single_endpoint_with_rate_limit_retry(server_factory, fast_retry):
    server = server_factory(faults=FaultPlan(schedule=["429"], retry_after_s=0.2))
    client = connect(f"litellm:openai/test-model@{server.base_url}", cache=None, retry=fast_retry)
    responses = await client.complete(_requests(3))
    await client.aclose()
    assert [r.text for r in responses] == ["route 0", "route 1", "route 2"]
    assert server.stats().faults_injected == {"429": 1}
    assert sum(r.attempts for r in responses) == 4
    assert client.ledger.role("downstream").prompt_tokens == 3 * (2 + 4)


@pytest.mark.asyncio
async def test_router_balances_across_replicas(server_factory, fast_retry):
    a, b = server_factory(), server_factory()
    client = connect(f"litellm:openai/test-model@{a.base_url},{b.base_url}", cache=None, retry=fast_retry)
    responses = await client.complete(_requests(40))
    await client.aclose()
    assert all(r.ok for r in responses)
    served = (a.stats().completions_ok, b.stats().completions_ok)
    assert sum(served) == 40 and min(served) >= 5, served


@pytest.mark.asyncio
async def test_router_falls_back_when_a_replica_fails(server_factory, fast_retry):
    healthy = server_factory()
    broken = server_factory(faults=FaultPlan(always="500"))
    client = connect(
        f"litellm:openai/test-model@{healthy.base_url},{broken.base_url}", cache=None, retry=fast_retry
    )
    responses = await client.complete(_requests(30))
    await client.aclose()
    assert [r.error for r in responses if not r.ok] == []
    assert healthy.stats().completions_ok == 30
    assert broken.stats().requests_total >= 1  # it was tried, and routed around


def test_missing_provider_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="ANTHROPIC_API_KEY"):
        connect("litellm:anthropic/claude-haiku-4-5", cache=None)


def test_prices_for_hosted_models_only():
    assert price_for(parse_model_spec("openai:gpt-4o-mini")) is not None
    assert price_for(parse_model_spec("litellm:anthropic/claude-haiku-4-5")) is not None
    assert price_for(parse_model_spec("openai:gpt-4o-mini@http://127.0.0.1:1/v1")) is None
    assert price_for(parse_model_spec("local")) is None


@pytest.mark.asyncio
async def test_ledger_charges_usd_for_priced_models(server):
    from promptopt.llm.backends.openai_http import OpenAIBackend
    from promptopt.llm.client import LLMClient
    from promptopt.llm.pricing import Price

    price = Price(prompt_usd=1e-6, completion_usd=2e-6)
    client = LLMClient(OpenAIBackend("test-model", base_url=server.base_url), price=price)
    await client.complete(_requests(5))
    await client.aclose()
    usage = client.ledger.role("downstream")
    assert usage.usd == pytest.approx(usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6)
    assert usage.usd > 0
