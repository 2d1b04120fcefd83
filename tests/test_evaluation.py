"""Evaluation through the LLM layer against a scripted test server."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from promptopt.evaluation import compare, evaluate
from promptopt.llm.cache import ResponseCache
from promptopt.llm.records import Sampling
from promptopt.prompt import Prompt
from promptopt.tasks.metrics import Accuracy
from promptopt.tasks.parsers import LabelParser
from promptopt.tasks.records import Example, SourceInfo
from promptopt.tasks.task import Task
from promptopt.testing import FaultPlan

LABELS = ("negative", "positive")


def make_task(n: int = 10) -> Task:
    words = ["great", "awful", "meh"]
    examples = tuple(
        Example({"text": f"item {i} was {words[i % 3]}"}, "negative" if words[i % 3] == "awful" else "positive", f"toy:{i}")
        for i in range(n)
    )
    return Task(name="toy", description="Sentiment.", input_fields=("text",), target_field="label",
                parser=LabelParser(labels=LABELS), metric=Accuracy(), dev=examples, test=examples,
                source=SourceInfo("builtin", "test"), labels=LABELS)


def reviewer(prompt_text_marker: str = "careful"):
    """Right on 'great'/'awful' when the prompt says 'careful'; otherwise always 'positive';
    'meh' gets chatter without a tag (a parse failure)."""

    def policy(request):
        text = request.messages[-1][1]
        if "meh" in text:
            return "Hmm, hard to say."
        if prompt_text_marker in text and "awful" in text:
            return "It is <final_answer>negative</final_answer>."
        return "<final_answer>positive</final_answer>"

    return policy


@pytest.mark.asyncio
async def test_scores_parse_failures_tokens_and_interval(server_factory, client_for, tmp_path):
    server = server_factory(policy=reviewer())
    cache = ResponseCache(tmp_path / "c.sqlite3")
    client = client_for(server, cache=cache)
    task = make_task(12)
    careful, sloppy = Prompt("Be careful."), Prompt("Go.")
    results = await evaluate([careful, sloppy], task.test, task, client, sampling=Sampling(max_tokens=16))
    a, b = results
    # 12 examples: 4 great (right for both), 4 awful (right only for careful), 4 meh (parse failure)
    assert (a.estimate.value, b.estimate.value) == (8 / 12, 4 / 12)
    assert a.parse_failures == 4 and a.errors == 0
    assert a.records[2].prediction is None and a.records[2].score == 0.0 and "no" in a.records[2].parse_error
    assert a.records[1].prediction == "negative" and a.records[1].raw_output.startswith("It is")
    assert a.estimate.method == "wilson" and a.estimate.low < 8 / 12 < a.estimate.high
    assert a.prompt_tokens > 0 and a.cached == 0
    assert server.stats().requests_total == 24

    again = await evaluate([careful, sloppy], task.test, task, client, sampling=Sampling(max_tokens=16))
    assert server.stats().requests_total == 24  # all from the cache
    assert [r.estimate.value for r in again] == [a.estimate.value, b.estimate.value]
    assert again[0].cached == 12 and again[0].prompt_tokens == 0
    await client.aclose()


@pytest.mark.asyncio
async def test_failed_requests_score_zero_and_are_counted(server_factory, client_for):
    from promptopt.llm.retry import RetryPolicy

    from promptopt.llm.failures import RequestsFailed

    server = server_factory(faults=FaultPlan(schedule=["500", "500"]))  # the first two arrivals fail
    client = client_for(server, retry=RetryPolicy(max_attempts=1, initial_backoff_s=0.01, max_backoff_s=0.02))
    task = make_task(3)
    [result] = await evaluate([Prompt("x")], task.test, task, client)
    assert result.errors == 2 and result.scores.count(0.0) >= 2  # (the answered one is an echo: no label)
    assert result.failures.by_kind == {"server_error": 2} and result.failures.total == 3
    await client.aclose()

    # nothing answered is an error naming the endpoint and the cause, not a score of 0
    down = server_factory(faults=FaultPlan(always="500"))
    client = client_for(down, retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02))
    with pytest.raises(RequestsFailed, match=r"scoring 1 prompt\(s\) on 3 example\(s\): 3 of 3 request\(s\) to .*"
                                             r"failed \(server_error ×3: gave up after 2 attempt"):
        await evaluate([Prompt("x")], task.test, task, client)
    await client.aclose()


@pytest.mark.asyncio
async def test_progress_is_reported(server, client_for):
    client = client_for(server)
    task = make_task(5)
    seen = []
    await evaluate([Prompt("a"), Prompt("b")], task.test, task, client, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (10, 10) and len(seen) == 10
    await client.aclose()


@pytest.mark.asyncio
async def test_paired_comparison_matches_scipy(server_factory, client_for):
    server = server_factory(policy=reviewer())
    client = client_for(server)
    task = make_task(30)
    a, b = await evaluate([Prompt("Be careful."), Prompt("Go.")], task.test, task, client)
    result = compare(a, b, seed=1)
    # careful is right on the 10 'awful' items where sloppy is wrong; never the other way round
    assert (result.a_only, result.b_only) == (10, 0)
    assert result.p_mcnemar == pytest.approx(binomtest(0, 10, 0.5).pvalue)
    assert result.difference == pytest.approx(10 / 30)
    assert result.low > 0 and result.p_bootstrap < 0.01
    with pytest.raises(ValueError, match="same examples"):
        compare(a, (await evaluate([Prompt("x")], task.test[:5], task, client))[0])
    await client.aclose()
