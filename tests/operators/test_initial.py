"""Initial instructions: the given ones first, the rest generated, a deterministic fill last."""

from __future__ import annotations

import pytest

from promptopt.llm.records import Sampling
from promptopt.operators import fill_instructions, initial_instructions
from promptopt.testing import policies

TASK = "Classify the sentiment of a review as positive or negative. Answer in <final_answer> tags."


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _distinct(texts: list[str]) -> bool:
    return len({_key(t) for t in texts}) == len(texts)


def by_seed(request):
    return f"<prompt>Generated instruction number {request.seed}.</prompt>"


async def test_none_given_generates_n_distinct_in_one_batch(server_factory, client_for):
    seen: list[str] = []

    def policy(request):
        seen.append(request.last_user)
        return by_seed(request)

    server = server_factory(policy=policy)
    meta = client_for(server, role="meta")
    out = await initial_instructions(meta, TASK, [], 4, sampling=Sampling())
    assert len(out) == 4 and _distinct(out)
    assert all(text.startswith("Generated instruction") for text in out)
    assert server.stats().requests_total == 4
    assert all(TASK in text for text in seen) and len(set(seen)) == 4  # different angles
    await meta.aclose()


async def test_one_given_comes_first_and_is_shown_to_the_meta_llm(server_factory, client_for):
    seen: list[str] = []

    def policy(request):
        seen.append(request.last_user)
        return by_seed(request)

    server = server_factory(policy=policy)
    meta = client_for(server, role="meta")
    out = await initial_instructions(meta, TASK, ["  Decide the sentiment. "], 3, sampling=Sampling())
    assert out[0] == "Decide the sentiment." and len(out) == 3 and _distinct(out)
    assert all("Decide the sentiment." in text for text in seen)
    await meta.aclose()


async def test_always_failing_meta_llm_still_gives_n_distinct(server_factory, client_for):
    server = server_factory(policy=policies.constant("I cannot help with that."))
    meta = client_for(server, role="meta")
    out = await initial_instructions(meta, TASK, ["Decide the sentiment."], 12, sampling=Sampling())
    assert len(out) == 12 and _distinct(out) and out[0] == "Decide the sentiment."
    assert out[1] == TASK  # the fill starts with the description itself
    assert server.stats().requests_total == 2 * 11  # one batch plus one retry batch
    again = await initial_instructions(meta, TASK, ["Decide the sentiment."], 12, sampling=Sampling())
    assert again == out  # deterministic (and served from the same requests)
    await meta.aclose()


async def test_duplicates_from_the_meta_llm_are_dropped_and_filled(server_factory, client_for):
    server = server_factory(policy=policies.constant("<prompt>decide   the SENTIMENT.</prompt>"))
    meta = client_for(server, role="meta")
    out = await initial_instructions(meta, TASK, ["Decide the sentiment."], 4, sampling=Sampling())
    assert len(out) == 4 and _distinct(out) and out[0] == "Decide the sentiment."
    await meta.aclose()

    server = server_factory(policy=policies.constant("<prompt>Same text.</prompt>"))
    meta = client_for(server, role="meta")
    out = await initial_instructions(meta, TASK, [], 3, sampling=Sampling())
    assert out[0] == "Same text." and len(out) == 3 and _distinct(out)
    await meta.aclose()


async def test_two_or_more_given_make_no_meta_call(server_factory, client_for):
    server = server_factory(policy=by_seed)
    meta = client_for(server, role="meta")
    given = ["One.", "Two.", "Three.", "one.", ""]
    out = await initial_instructions(meta, TASK, given, 2, sampling=Sampling())
    assert out == ["One.", "Two.", "Three."]  # all distinct ones, even beyond n
    assert await initial_instructions(meta, TASK, ["Only."], 1, sampling=Sampling()) == ["Only."]
    assert await initial_instructions(meta, TASK, [], 0, sampling=Sampling()) == []
    assert server.stats().requests_total == 0
    with pytest.raises(ValueError):
        await initial_instructions(meta, TASK, [], -1, sampling=Sampling())
    await meta.aclose()


def test_fill_is_distinct_from_taken_and_handles_empty_description():
    first = fill_instructions(TASK, [], 3)
    assert fill_instructions(TASK, [first[0]], 2) == first[1:]
    assert _distinct(fill_instructions("", ["x"], 20))
