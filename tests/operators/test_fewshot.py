"""Few-shot construction (reasoning kept only when right), sampling and add/remove/keep edits."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from promptopt.llm.records import Sampling
from promptopt.llm.retry import RetryPolicy
from promptopt.operators import (
    answers_match,
    apply_fewshot_edit,
    build_fewshots,
    plan_fewshot_edits,
    sample_fewshot_examples,
)
from promptopt.prompt import NEUTRAL_SYSTEM, FewShot, Prompt
from promptopt.tasks.metrics import Accuracy, NumericMatch
from promptopt.tasks.parsers import ExactParser, NumberParser
from promptopt.tasks.records import Example, SourceInfo
from promptopt.tasks.task import Task
from promptopt.testing import FaultPlan


def make_task(parser, examples) -> Task:
    return Task(name="toy", description="Sentiment.", input_fields=("text",), target_field="label",
                parser=parser, metric=Accuracy(), dev=tuple(examples), test=(),
                source=SourceInfo("builtin", "test"))


EXAMPLES = [
    Example({"text": "a great movie"}, "positive", "t:1"),
    Example({"text": "an awful film"}, "negative", "t:2"),
    Example({"text": "meh"}, "negative", "t:3"),
    Example({"text": "a great book"}, "Positive", "t:4"),
]

REPLIES = {
    "a great movie": "Praise throughout, so <final_answer> Positive </final_answer>",
    "an awful film": "Sounds lovely. <final_answer>positive</final_answer>",
    "meh": "Hard to say.",
    "a great book": "Clearly good.\n<final_answer>positive</final_answer>",
}


def reviewer(seen):
    def policy(request):
        seen.append(request.messages)
        user = request.last_user
        return next(reply for text, reply in REPLIES.items() if user.endswith(f"Input:\n{text}"))

    return policy


async def test_reasoning_kept_only_when_right_in_one_batch(server_factory, client_for):
    seen: list = []
    server = server_factory(policy=reviewer(seen))
    downstream = client_for(server)
    task = make_task(ExactParser(), EXAMPLES)
    jobs = [("Label the sentiment.", example) for example in EXAMPLES]
    shots = await build_fewshots(downstream, task, jobs, sampling=Sampling(max_tokens=64))
    assert shots == [
        FewShot("a great movie", REPLIES["a great movie"]),
        FewShot("an awful film", "<final_answer>negative</final_answer>"),
        FewShot("meh", "<final_answer>negative</final_answer>"),
        FewShot("a great book", REPLIES["a great book"]),
    ]
    assert server.stats().requests_total == 4
    # The instruction alone, no examples, in the paper renderer's format.
    assert (("system", NEUTRAL_SYSTEM), ("user", "Label the sentiment.\n\nInput:\na great movie")) in seen
    await downstream.aclose()


async def test_failed_requests_give_the_bare_answer(server_factory, client_for):
    server = server_factory(faults=FaultPlan(always="500"))
    downstream = client_for(server, retry=RetryPolicy(max_attempts=1))
    task = make_task(ExactParser(), EXAMPLES[:1])
    shots = await build_fewshots(downstream, task, [("x", EXAMPLES[0])], sampling=Sampling())
    assert shots == [FewShot("a great movie", "<final_answer>positive</final_answer>")]
    assert await build_fewshots(downstream, task, [], sampling=Sampling()) == []
    await downstream.aclose()


async def test_numbers_compare_numerically(server_factory, client_for):
    server = server_factory(policy=lambda request: "So the total is <final_answer>1000.0</final_answer>")
    downstream = client_for(server)
    example = Example({"text": "how many?"}, "1,000", "n:1")
    task = Task(name="num", description="Count.", input_fields=("text",), target_field="answer",
                parser=NumberParser(), metric=NumericMatch(), dev=(example,), test=(),
                source=SourceInfo("builtin", "test"))
    [shot] = await build_fewshots(downstream, task, [("Count.", example)], sampling=Sampling())
    assert shot.output.startswith("So the total is")
    await downstream.aclose()


def test_answers_match():
    assert answers_match(" Positive ", "positive")
    assert answers_match("very  Positive", "Very positive")
    assert answers_match("1,000", "1000.00") and not answers_match("1000", "1001")
    assert not answers_match("positive", "negative")


def test_sample_fewshot_examples():
    rng = random.Random(0)
    sizes = Counter()
    pool = [Example({"text": f"t{i}"}, "positive", f"p:{i}") for i in range(10)]
    for _ in range(600):
        drawn = sample_fewshot_examples(pool, 5, rng)
        sizes[len(drawn)] += 1
        assert len({e.uid for e in drawn}) == len(drawn)
    assert set(sizes) == {0, 1, 2, 3, 4, 5} and min(sizes.values()) > 60
    assert all(len(sample_fewshot_examples(EXAMPLES[:2], 5, random.Random(s))) <= 2 for s in range(30))
    assert sample_fewshot_examples(EXAMPLES, 5, random.Random(3)) == sample_fewshot_examples(EXAMPLES, 5, random.Random(3))


def test_plan_is_a_third_each():
    counts = Counter(plan_fewshot_edits(6000, random.Random(1)))
    assert set(counts) == {"add", "remove", "keep"}
    assert all(abs(c / 6000 - 1 / 3) < 0.03 for c in counts.values())


SHOTS = [FewShot(f"in {i}", f"out {i}") for i in range(6)]
NEW = FewShot("new in", "new out")


def test_add_remove_keep_semantics():
    rng = random.Random(0)
    base = Prompt("Do it.", tuple(SHOTS[:3]))
    added = apply_fewshot_edit(base, "add", rng, new_shot=NEW)
    assert set(added.examples) == set(SHOTS[:3]) | {NEW} and added.instruction == "Do it."
    assert apply_fewshot_edit(added, "add", rng, new_shot=NEW).examples.count(NEW) == 1  # no duplicate
    full = Prompt("Do it.", tuple(SHOTS[:5]))
    assert set(apply_fewshot_edit(full, "add", rng, new_shot=NEW).examples) == set(SHOTS[:5])
    assert len(apply_fewshot_edit(full, "add", rng, new_shot=NEW, max_shots=6).examples) == 6
    removed = apply_fewshot_edit(base, "remove", rng, new_shot=None)
    assert len(removed.examples) == 2 and set(removed.examples) < set(base.examples)
    assert apply_fewshot_edit(Prompt("x"), "remove", rng, new_shot=None).examples == ()
    kept = apply_fewshot_edit(base, "keep", rng, new_shot=NEW)
    assert sorted(kept.examples, key=SHOTS.index) == list(base.examples)
    # Nothing to add (an empty pool): the examples are only shuffled.
    assert set(apply_fewshot_edit(base, "add", rng, new_shot=None).examples) == set(base.examples)
    with pytest.raises(ValueError, match="unknown"):
        apply_fewshot_edit(base, "swap", rng, new_shot=None)


def test_edits_shuffle_deterministically_and_removals_vary():
    base = Prompt("Do it.", tuple(SHOTS))
    orders = {apply_fewshot_edit(base, "keep", random.Random(s), new_shot=None).examples for s in range(20)}
    assert len(orders) > 10
    one = apply_fewshot_edit(base, "remove", random.Random(5), new_shot=None)
    assert one == apply_fewshot_edit(base, "remove", random.Random(5), new_shot=None)
    dropped = {
        (set(SHOTS) - set(apply_fewshot_edit(base, "remove", random.Random(s), new_shot=None).examples)).pop()
        for s in range(40)
    }
    assert len(dropped) > 3


def test_paper_compat_add_acts_as_keep_and_never_grows():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 5)
        prompt = Prompt("Do it.", tuple(rng.sample(SHOTS, n)))
        [edit] = plan_fewshot_edits(1, rng)
        out = apply_fewshot_edit(prompt, edit, rng, new_shot=NEW, paper_compat=True)
        assert len(out.examples) <= n and NEW not in out.examples
    prompt = Prompt("Do it.", tuple(SHOTS[:3]))
    as_add = apply_fewshot_edit(prompt, "add", random.Random(1), new_shot=None, paper_compat=True)
    as_keep = apply_fewshot_edit(prompt, "keep", random.Random(1), new_shot=None)
    assert as_add == as_keep
