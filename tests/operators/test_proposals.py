"""Proposal validation and the rejection memory, on the loopback server with scripted bad answers."""

from __future__ import annotations

import pytest

from promptopt.llm.records import Sampling
from promptopt.operators import crossover_meta_prompt, meta_generate
from promptopt.operators.proposals import (
    ProposalGuard,
    ProposalMemory,
    ProposalRules,
    ProposalStats,
    check_proposal,
)
from promptopt.testing import policies
from promptopt.testing.policies import PolicyReply

REVIEW = "the film contains no good jokes, no good scenes, barely a moment of wit"
ARTICLE = ("Arsenal get back to winning ways Arsenal won for the first time in five games Saturday, getting two "
           "goals from Thierry Henry to beat Birmingham 3-0 in the Premier League.")
RULES = ProposalRules.for_data([REVIEW, "yes", ARTICLE])


@pytest.mark.parametrize(
    ("text", "parents", "reason"),
    [
        ("Label the review as positive or negative.", ["Say the label."], None),
        ("Label it.", [], "too_short"),  # a run's rules want three words
        (" ".join(["word"] * 401), [], "too_long"),
        ("  SAY the   label. ", ["Say the label."], "parent_copy"),
        (f"Answer like this: {REVIEW.upper()} -> negative", [], "leaked_example"),
        ("Say yes or no, then the label.", [], None),  # "yes" is too short to count as a leak
        # what Qwen2.5-Coder-0.5B proposed as OPRO's instruction on AG News: a shown article's start
        ("Why does Arsenal get back to winning ways Arsenal won for the first time in five games Saturday?", [],
         "leaked_example"),
        ("Classify the news: a team won for the first time in five games, which topic is it?", [], None),
    ],
)
def test_check_proposal(text, parents, reason):
    assert check_proposal(text, parents, RULES) == reason


def test_known_instructions_are_duplicates_only_when_asked():
    assert check_proposal("Say the label now.", [], RULES) is None
    assert check_proposal("say the label NOW.", [], RULES.with_known(["Say the label now."])) == "duplicate"


def _meta_prompt(tag: str) -> str:
    return crossover_meta_prompt(f"Classify the review ({tag}).", "Say the label.", "Be brief.")


BAD = {
    "TRUNCATED": PolicyReply("<prompt>Read the review and then carefully", finish_reason="length"),
    "UNTAGGED": "Sure! Read the review and answer with its label.",
    "ECHOED": "<prompt>Write one new instruction for this task that blends A and B into a single coherent whole</prompt>",
    "PARENT": "<prompt>Say the label.</prompt>",
    "LEAKED": f"<prompt>Answer as in: {REVIEW} is negative.</prompt>",
}


def _bad_policy(request):
    for key, reply in BAD.items():
        if key in request.last_user:
            return reply
    return "<prompt>Read the review, then answer with its label.</prompt>"


async def test_scripted_bad_answers_are_rejected_by_reason(server_factory, client_for):
    from promptopt.operators import CROSSOVER_TEMPLATE, template_sentences

    server = server_factory(policy=_bad_policy)
    meta = client_for(server, role="meta")
    tags = [*BAD, "GOOD"]
    results = await meta_generate(
        meta, [_meta_prompt(t) for t in tags], ["fallback"] * len(tags), sampling=Sampling(max_tokens=64),
        scaffolding=template_sentences(CROSSOVER_TEMPLATE), parents=[("Say the label.", "Be brief.")] * len(tags),
        guard=ProposalGuard(RULES),
    )
    by_tag = dict(zip(tags, results))
    expected = {"TRUNCATED": "truncated", "UNTAGGED": "untagged", "ECHOED": "echo", "PARENT": "parent_copy",
                "LEAKED": "leaked_example"}
    for tag, reason in expected.items():
        result = by_tag[tag]
        assert result.fell_back and result.text == "fallback", tag
        assert result.reasons == (reason, reason) and result.attempts == 2, (tag, result.reasons)
    good = by_tag["GOOD"]
    assert good.ok and good.reasons == () and good.text == "Read the review, then answer with its label."
    # every bad one was asked twice (retry), the good one once: the cost of a retry is real requests
    assert server.stats().requests_total == 2 * len(expected) + 1
    await meta.aclose()


async def test_memory_asks_a_failed_meta_prompt_anew_then_stops_asking(server_factory, client_for):
    seen: list[int | None] = []

    def policy(request):
        seen.append(request.seed)
        return policies.constant("no tags here")(request)

    server = server_factory(policy=policy)
    meta = client_for(server, role="meta")
    guard = ProposalGuard(RULES, ProposalMemory(max_rounds=2))
    prompt = _meta_prompt("MEMORY")

    async def ask():
        [result] = await meta_generate(meta, [prompt], ["fallback"], sampling=Sampling(), guard=guard)
        return result

    first = await ask()
    assert first.fell_back and guard.memory.failures(prompt) == 1
    second = await ask()  # fresh sample indices: not the cached failures again
    assert second.fell_back and second.attempts == 2 and guard.memory.failures(prompt) == 2
    assert len(set(seen)) == 4, seen
    third = await ask()
    assert third.attempts == 0 and third.reasons == ("skipped",) and third.text == "fallback"
    assert server.stats().requests_total == 4  # the third round sent nothing
    await meta.aclose()


def test_stats_count_per_operator():
    stats = ProposalStats()
    stats.count("mutation", True, [])
    stats.count("mutation", False, ["untagged", "echo"])
    stats.count_registered("init", 4, 0)
    stats.count_registered("crossover+mutation", 1, 1)
    summary = stats.to_dict()
    assert summary["per_operator"]["mutation"] == {
        "asked": 2, "valid": 1, "rejected": {"echo": 1, "untagged": 1}, "duplicates": 0, "new_prompts_evaluated": 0}
    assert summary["new_prompts_evaluated"] == 1  # the initial prompts are not new
    assert summary["asked"] == 2 and summary["valid"] == 1


async def test_opro_answers_lose_copied_pair_labels_and_restated_requests_are_echoes(server_factory, client_for):
    # what Qwen2.5-Coder-0.5B wrote as OPRO's meta-LLM, inside the tags
    from promptopt.operators import opro_meta_prompt, propose_instructions

    answers = iter([
        "<prompt>Instruction:\nClassify the review. Answer 'positive' or 'negative'.\nScore: 100</prompt>",
        "<prompt>Create a new instruction that will score higher than the other instructions above.</prompt>",
        "<prompt>Score: 50</prompt>",
        "<prompt>Read the review and answer with its label.</prompt>",
        "<prompt>Tell whether the review liked the film: positive or negative.</prompt>",
    ])
    client = client_for(server_factory(policy=lambda request: next(answers)))
    meta_prompt = opro_meta_prompt("Classify movie reviews.", [("Say the label.", 0.5)], [("great film", "positive")])
    results = await propose_instructions(client, meta_prompt, 3, sampling=Sampling(max_tokens=64),
                                         fallback="Say the label.", shown=["Say the label."], guard=ProposalGuard(RULES))
    texts = sorted(r.text for r in results if r.ok)
    assert "Classify the review. Answer 'positive' or 'negative'." in texts  # labels gone, instruction kept
    reasons = sorted(code for r in results for code in r.reasons)
    assert reasons == ["echo", "untagged"], [(r.raw, r.reasons) for r in results]
    await client.aclose()


def test_opro_meta_prompt_puts_the_trajectory_next_to_the_request_and_shortens_long_examples():
    # three whole AG News articles just before the request made Qwen2.5-Coder-0.5B write more news
    from promptopt.operators import opro_meta_prompt
    from promptopt.operators.opro import EXAMPLE_CHARS

    article = "Stocks rallied on Wall Street today " + "as investors cheered the earnings news " * 30
    meta_prompt = opro_meta_prompt("Classify news articles.", [("Name the topic.", 0.25), ("Say the topic.", 0.75)],
                                   [(article, "Business")])
    assert meta_prompt.index("Expected answer:\nBusiness") < meta_prompt.index("Instruction:\nName the topic.")
    assert meta_prompt.index("Say the topic.") < meta_prompt.index("<prompt>")
    shown = meta_prompt.split("Input:\n", 1)[1].split("\nExpected answer:", 1)[0]
    assert shown.endswith(" …") and len(shown) <= EXAMPLE_CHARS + 2
    assert article.startswith(shown[:-2]) and not shown[:-2].endswith(" ")  # cut between words
    short = opro_meta_prompt("Classify news articles.", [("Name the topic.", 0.5)], [("  Oil prices fell.  ", "Business")])
    assert "Input:\nOil prices fell.\nExpected answer:" in short  # short inputs are shown whole
