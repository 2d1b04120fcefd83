"""Tag extraction, echo detection and the generate → validate → retry → fall back loop."""

from __future__ import annotations

import pytest

from promptopt.llm.records import Sampling
from promptopt.llm.retry import RetryPolicy
from promptopt.operators import (
    CROSSOVER_TEMPLATE,
    crossover_meta_prompt,
    extract_tagged,
    is_echo,
    meta_generate,
    template_sentences,
)
from promptopt.testing import FaultPlan, policies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<prompt>Classify it.</prompt>", "Classify it."),
        ("Sure! Format: <prompt>...</prompt>. Here: <prompt>  Do X.\n</prompt> done", "Do X."),
        ("<PROMPT>Case</Prompt>", "Case"),
        ("<prompt>outer <prompt>inner</prompt>", "inner"),
        ("<prompt>whole</prompt> then <prompt>cut off", "whole"),
        ("<prompt>cut off", None),
        ("no tags at all", None),
        ("<prompt>   </prompt>", None),
        ("<answer>x</answer>", None),
    ],
)
def test_extract_tagged(text, expected):
    assert extract_tagged(text) == expected


def test_extract_tagged_other_tag():
    assert extract_tagged("<final_answer>4</final_answer>", "final_answer") == "4"


META = crossover_meta_prompt("Classify the review as positive or negative.", "Say the label.", "Be brief.")
SCAFFOLD = template_sentences(CROSSOVER_TEMPLATE)


def test_echo_of_whole_meta_prompt_and_near_copies():
    assert is_echo(META, META)
    assert is_echo(META.upper().replace("\n", " "), META)
    assert is_echo(META[:-20], META)  # a slightly truncated copy is still a copy


def test_echo_of_format_placeholder():
    # Echoing "between <prompt> and </prompt>" extracts "and".
    assert extract_tagged(META) == "and" and is_echo("and", META)


def test_echo_of_scaffolding_sentences():
    directive = "Write one new instruction for this task that blends A and B into a single coherent whole"
    assert is_echo(f"Okay. {directive}.", META, scaffolding=SCAFFOLD)
    assert is_echo("Put only the new instruction between", META)  # tag-directive fragment, no scaffolding
    assert is_echo("blends A and B into a single coherent", META, scaffolding=SCAFFOLD)
    assert not is_echo(f"Okay. {directive}.", "An unrelated meta-prompt.", scaffolding=SCAFFOLD)


def test_real_answers_are_not_echoes():
    assert not is_echo("", META)
    assert not is_echo("Say the label, briefly.", META, scaffolding=SCAFFOLD)
    # Repeating embedded content (the task description, a parent) is allowed.
    assert not is_echo("Classify the review as positive or negative. Be brief.", META, scaffolding=SCAFFOLD)


def _by_seed(first: str, retry: str):
    """First attempts (no seed) get ``first``; retries (sample_index 1 → seed 1) get ``retry``."""

    def policy(request):
        return first if request.seed is None else retry

    return policy


async def test_valid_answers_need_one_batch(server_factory, client_for):
    server = server_factory(policy=policies.constant("<prompt>New.</prompt>"))
    meta = client_for(server, role="meta")
    results = await meta_generate(meta, ["m1", "m2", "m3"], ["f1", "f2", "f3"], sampling=Sampling())
    assert [r.text for r in results] == ["New."] * 3
    assert all(r.ok and not r.fell_back and r.attempts == 1 for r in results)
    assert results[0].raw == ("<prompt>New.</prompt>",)
    assert server.stats().requests_total == 3
    await meta.aclose()


async def test_chatter_is_retried_with_sample_index_1(server_factory, client_for):
    server = server_factory(policy=_by_seed("Sure, here is a prompt: Do it.", "<prompt>Retry text.</prompt>"))
    meta = client_for(server, role="meta")
    [result] = await meta_generate(meta, ["meta"], ["fallback"], sampling=Sampling())
    assert result.text == "Retry text." and result.ok and result.attempts == 2
    assert result.raw == ("Sure, here is a prompt: Do it.", "<prompt>Retry text.</prompt>")
    assert "no non-empty <prompt>" in result.rejections[0]
    assert server.stats().requests_total == 2
    await meta.aclose()


async def test_still_invalid_falls_back(server_factory, client_for):
    server = server_factory(policy=_by_seed("chatter", "<prompt> </prompt>"))
    meta = client_for(server, role="meta")
    [result] = await meta_generate(meta, ["meta"], ["fallback"], sampling=Sampling())
    assert result == result.__class__(
        text="fallback", ok=False, attempts=2, fell_back=True,
        raw=("chatter", "<prompt> </prompt>"), rejections=result.rejections, reasons=("untagged", "untagged"),
    )
    assert len(result.rejections) == 2
    await meta.aclose()


async def test_errors_fall_back_and_echo_is_rejected(server_factory, client_for):
    server = server_factory(faults=FaultPlan(always="500"))
    meta = client_for(server, role="meta", retry=RetryPolicy(max_attempts=1))
    [result] = await meta_generate(meta, ["meta"], ["fb"], sampling=Sampling())
    assert result.fell_back and result.raw == ("", "") and "request failed" in result.rejections[0]
    await meta.aclose()

    echo_server = server_factory(policy=policies.echo())
    meta = client_for(echo_server, role="meta")
    [result] = await meta_generate(meta, [META], ["fb"], sampling=Sampling(), scaffolding=SCAFFOLD)
    assert result.fell_back and result.text == "fb" and result.rejections[0] == "echo of the meta-prompt"
    await meta.aclose()


async def test_sample_indices_space_retries(server_factory, client_for):
    seen: list[int | None] = []

    def policy(request):
        seen.append(request.seed)
        return "no tags" if request.seed in (None, 2) else "<prompt>ok</prompt>"

    server = server_factory(policy=policy)
    meta = client_for(server, role="meta")
    results = await meta_generate(meta, ["m", "m"], ["a", "b"], sampling=Sampling(), sample_indices=[0, 2])
    assert [r.attempts for r in results] == [2, 2]
    assert sorted(seen, key=lambda s: -1 if s is None else s) == [None, 1, 2, 3]
    await meta.aclose()


async def test_mismatched_fallbacks_are_an_error(server, client_for):
    meta = client_for(server)
    with pytest.raises(ValueError, match="fallback"):
        await meta_generate(meta, ["a"], [], sampling=Sampling())
    assert await meta_generate(meta, [], [], sampling=Sampling()) == []
    await meta.aclose()
