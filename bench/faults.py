"""Fault soak: many requests through our client against a server that fails 30% of the time.

Sends N unique requests (default 2,000) at 64 in flight through ``LLMClient`` (built by
``promptopt.llm.connection.connect``, as users get it) to the loopback test server in this
process, whose fault plan answers 30% of arrivals with a mix of 429, 500, 503, connection reset,
hang, malformed JSON, an empty body and a choice-less body. Retry timeouts are short, so hangs
resolve in a fraction of a second. It checks what a flaky endpoint must never break:

* every request gets exactly one response: its own answer, or an error with its kind;
* nothing is lost (no request without a response);
* the ledger's request count equals the requests the server saw (retries included).

The first line printed is the summary, and is machine-readable::

    requests=2000 answered=… failed=… server_seen=… lost=0

then failures by kind and the wall time. Exits non-zero when anything was lost, answered twice
or wrongly, or when the ledger and the server disagree.

Run: python bench/faults.py [--requests 2000] [--in-flight 64] [--fault-share 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping

#: The fault mix, as shares of the whole fault rate (scaled to ``--fault-share``).
FAULT_MIX: Mapping[str, float] = {
    "429": 0.2,
    "500": 0.15,
    "503": 0.15,
    "reset": 0.12,
    "hang": 0.1,
    "malformed": 0.1,
    "empty_body": 0.1,
    "no_choices": 0.08,
}


@dataclass(frozen=True)
class SoakResult:
    """What the soak saw; :attr:`ok` is its verdict."""

    requests: int
    answered: int
    failed: int
    lost: int
    #: Requests whose caller was handed more than one response.
    duplicated: int
    #: Answers that are not the echo of their own request.
    wrong: int
    server_seen: int
    ledger_requests: int
    ledger_retries: int
    ledger_retry_tokens: int
    failed_by_kind: Mapping[str, int] = field(default_factory=dict)
    #: Requests the server completed more than once: possible by design (an answer that missed
    #: its attempt's timeout is asked again), so reported, not a failure.
    served_twice: int = 0
    faults_injected: Mapping[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.wrong == 0
            and self.answered + self.failed == self.requests
            and self.ledger_requests == self.server_seen
        )

    def line(self) -> str:
        """The one summary line."""
        return (
            f"requests={self.requests} answered={self.answered} failed={self.failed} "
            f"server_seen={self.server_seen} lost={self.lost}"
        )

    def details(self) -> list[str]:
        """The other lines: failures by kind, what was injected, the ledger and the time."""
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.failed_by_kind.items())) or "none"
        injected = " ".join(f"{k}={v}" for k, v in sorted(self.faults_injected.items()))
        return [
            f"failed by kind: {kinds}",
            f"faults injected: {injected}",
            f"ledger: requests={self.ledger_requests} retries={self.ledger_retries} "
            f"retry_tokens={self.ledger_retry_tokens} duplicated={self.duplicated} wrong={self.wrong} "
            f"served_twice={self.served_twice}",
            f"wall_s={self.wall_s:.2f}",
        ]


def fault_rates(share: float) -> dict[str, float]:
    """:data:`FAULT_MIX` scaled so that the rates add up to ``share``."""
    total = sum(FAULT_MIX.values())
    return {kind: share * weight / total for kind, weight in FAULT_MIX.items()}


async def soak(
    requests: int = 2000,
    *,
    in_flight: int = 64,
    fault_share: float = 0.3,
    seed: int = 0,
    timeout_s: float = 1.0,
    max_attempts: int = 4,
) -> SoakResult:
    """Run the soak against a fresh in-process test server and return what it saw.

    ``max_attempts`` is kept low so that some requests run out of attempts and the "reported
    failed with its kind" path is exercised too (0.3**4: about 1 request in 120).
    """
    from promptopt.llm.connection import connect
    from promptopt.llm.limits import Limits
    from promptopt.llm.records import ChatRequest
    from promptopt.llm.retry import RetryPolicy
    from promptopt.testing import FaultPlan, ServerConfig, TestServer

    plan = FaultPlan(
        rates=fault_rates(fault_share), seed=seed, retry_after_s=0.02, hang_s=4 * timeout_s
    )
    retry = RetryPolicy(
        max_attempts=max_attempts,
        timeout_s=timeout_s,
        initial_backoff_s=0.01,
        max_backoff_s=0.1,
        deadline_s=30.0,
    )
    texts = [f"soak request {i} of {requests}" for i in range(requests)]
    batch = [ChatRequest.user(text, max_tokens=32) for text in texts]
    seen: Counter[int] = Counter()

    with TestServer(config=ServerConfig(max_seqs=in_flight), faults=plan) as server:
        client = connect(
            f"openai:test-model@{server.base_url}",
            cache=None,
            limits=Limits(max_concurrency=in_flight),
            retry=retry,
        )
        started = time.perf_counter()
        try:
            responses = await client.complete(batch, on_response=lambda i, _r: seen.update([i]))
        finally:
            await client.aclose()
        wall = time.perf_counter() - started
        stats = server.stats()
    usage = client.ledger.role("downstream")

    answered = failed = wrong = 0
    kinds: Counter[str] = Counter()
    for text, response in zip(texts, responses):
        if response is None:
            continue
        if response.ok:
            answered += 1
            wrong += response.text != text  # the echo policy answers with the request's text
        elif response.error_kind:
            failed += 1
            kinds[response.error_kind] += 1
    # Lost: no response, or a failure without a kind (nobody could say why it failed).
    lost = requests - answered - failed
    duplicated = sum(1 for i in range(requests) if seen[i] > 1)
    lost += sum(1 for i in range(requests) if seen[i] == 0 and responses[i] is not None)
    return SoakResult(
        requests=requests,
        answered=answered,
        failed=failed,
        lost=lost,
        duplicated=duplicated,
        wrong=wrong,
        server_seen=stats.requests_total,
        ledger_requests=usage.requests,
        ledger_retries=usage.retries,
        ledger_retry_tokens=usage.retry_tokens,
        failed_by_kind=dict(kinds),
        served_twice=sum(1 for n in stats.successes_per_key.values() if n > 1),
        faults_injected=dict(stats.faults_injected),
        wall_s=wall,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--fault-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per attempt")
    args = parser.parse_args()
    result = asyncio.run(
        soak(args.requests, in_flight=args.in_flight, fault_share=args.fault_share,
             seed=args.seed, timeout_s=args.timeout)
    )
    print(result.line())
    for line in result.details():
        print(line)
    if not result.ok:
        print("FAILED: lost, duplicated or wrong answers, or ledger != server", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(main())
