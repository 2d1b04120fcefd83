"""Usage arithmetic on the usage record (RoleUsage), and the ledger that adds it up per role."""

from __future__ import annotations

import threading

from promptopt.llm.ledger import RoleUsage, UsageLedger, add_roles
from promptopt.llm.records import ChatResponse, Usage


def test_sum_and_per_role_sums() -> None:
    a, b = RoleUsage(requests=2, prompt_tokens=10), RoleUsage(requests=1, completion_tokens=4, usd=0.5)
    assert RoleUsage.sum([]) == RoleUsage()
    assert RoleUsage.sum([a, b]) == a + b == RoleUsage(requests=3, prompt_tokens=10, completion_tokens=4, usd=0.5)
    assert (a + a).usd is None  # unpriced stays unpriced
    assert add_roles({"meta": a}, {"meta": b, "judge": a}) == {"meta": a + b, "judge": a}


def test_a_request_is_charged_with_its_failed_attempts() -> None:
    response = ChatResponse(text="ok", usage=Usage(5, 2, estimated=True), attempts=3, latency_s=0.25)
    charged = RoleUsage.charged(response, 0.01, sent=2, failed_usage=Usage(4, 1))
    assert charged == RoleUsage(requests=2, asked=1, retries=1, prompt_tokens=9, completion_tokens=3, retry_tokens=5,
                                estimated_token_responses=1, latency_s=0.25, usd=0.01)
    failed = RoleUsage.charged(ChatResponse.failure("boom", "server_error"))
    assert (failed.errors, failed.asked, failed.requests) == (1, 1, 1)


def test_the_ledger_adds_records_per_role_across_threads() -> None:
    ledger = UsageLedger()
    response = ChatResponse(text="ok", usage=Usage(3, 1))

    def charge() -> None:
        for _ in range(200):
            ledger.record("downstream", response)
            ledger.record_hit("meta")

    threads = [threading.Thread(target=charge) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.role("downstream") == RoleUsage(requests=800, asked=800, prompt_tokens=2400, completion_tokens=800)
    assert ledger.role("meta") == RoleUsage(cache_hits=800)
    assert ledger.total() == ledger.role("downstream") + ledger.role("meta")
