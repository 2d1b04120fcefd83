import asyncio
import random
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest

from promptopt.llm.limits import EndpointLimiter, Limits, TokenBucket
from promptopt.llm.retry import RetryPolicy, parse_retry_after


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    future = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 <= parse_retry_after({"retry-after": format_datetime(future, usegmt=True)}) <= 31
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_jittered_exponential_and_honours_retry_after():
    policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=8.0)
    rng = random.Random(0)
    for attempt in range(1, 8):
        wait = policy.backoff(attempt, None, rng)
        assert 0.0 <= wait <= min(8.0, 2 ** (attempt - 1))
    assert 2.0 <= policy.backoff(1, 2.0, rng) <= 2.0 + 0.25


@pytest.mark.asyncio
async def test_token_bucket_rate():
    bucket = TokenBucket(rate_per_minute=1200, burst_s=0.1)  # 20/s, bucket of 2
    start = time.monotonic()
    for _ in range(12):
        await bucket.take(1)
    elapsed = time.monotonic() - start
    # 2 free from the full bucket, then 10 at 20/s
    assert 0.4 <= elapsed <= 1.2


@pytest.mark.asyncio
async def test_limiter_caps_concurrency_and_cools_down():
    limiter = EndpointLimiter(Limits(max_concurrency=3))
    active = 0
    peak = 0

    async def work():
        nonlocal active, peak
        async with limiter.slot(10):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.02)
            active -= 1

    await asyncio.gather(*(work() for _ in range(12)))
    assert peak == 3
    assert limiter.max_in_flight == 3

    limiter.cool_down(0.3)
    start = time.monotonic()
    async with limiter.slot(1):
        pass
    assert time.monotonic() - start >= 0.28


@pytest.mark.asyncio
async def test_tokens_per_minute_limits_admission():
    limiter = EndpointLimiter(Limits(max_concurrency=10, tokens_per_minute=6000, burst_s=1.0))
    start = time.monotonic()
    for _ in range(4):
        async with limiter.slot(50) as reservation:
            reservation.actual_tokens = 50  # 100 tokens/s bucket of 100: 2 free, then 0.5 s each
    assert 0.8 <= time.monotonic() - start <= 1.8


def test_limits_validation():
    with pytest.raises(ValueError, match="max_concurrency"):
        Limits(max_concurrency=0)
    with pytest.raises(ValueError, match="requests_per_minute"):
        Limits(requests_per_minute=0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
