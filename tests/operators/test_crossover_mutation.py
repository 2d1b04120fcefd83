"""Crossover and mutation against the loopback server with scripted meta-LLM policies."""

from __future__ import annotations

import random
import re

from promptopt.llm.records import Sampling
from promptopt.operators import (
    child_examples,
    crossover,
    crossover_detailed,
    mutate,
    mutate_detailed,
)
from promptopt.prompt import FewShot, Prompt

TASK = "Classify the sentiment of a review as positive or negative."
SHOTS = [FewShot(f"input {i}", f"<final_answer>out {i}</final_answer>") for i in range(8)]

_PARENTS = re.compile(r"Instruction A:\n(.*?)\n\nInstruction B:\n(.*?)\n\n", re.S)
_CURRENT = re.compile(r"Current instruction:\n(.*?)\n\n", re.S)


def merger(request):
    """Merges the two parents, except: 'FLAKY' parents get chatter on the first attempt only,
    'BROKEN' ones always, 'ECHO' ones an echo of the meta-prompt, 'SCAFFOLD' ones a directive."""
    first, second = _PARENTS.search(request.last_user).groups()
    retry = request.seed is not None
    if "BROKEN" in first or ("FLAKY" in first and not retry):
        return "Sure! I merged both prompts into a single one for you."
    if "ECHO" in first:
        return "<prompt>" + request.last_user.replace("<prompt>", "").replace("</prompt>", "") + "</prompt>"
    if "SCAFFOLD" in first:
        return "<prompt>Write one new instruction for this task that blends A and B.</prompt>"
    return f"Here you go:\n<prompt>MERGED: {first} + {second}</prompt>"


def rephraser(request):
    current = _CURRENT.search(request.last_user).group(1)
    if "BROKEN" in current or ("FLAKY" in current and request.seed is None):
        return "I would phrase it differently."
    return f"<prompt>RESTYLED: {current.upper()}</prompt>"


async def test_crossover_uses_tagged_text_in_one_batch(server_factory, client_for):
    server = server_factory(policy=merger)
    meta = client_for(server, role="meta")
    pairs = [(Prompt(f"Parent {i}a."), Prompt(f"Parent {i}b.")) for i in range(4)]
    children = await crossover(meta, TASK, pairs, random.Random(0), sampling=Sampling())
    assert [c.instruction for c in children] == [f"MERGED: Parent {i}a. + Parent {i}b." for i in range(4)]
    assert server.stats().requests_total == 4
    await meta.aclose()


async def test_crossover_retries_then_falls_back(server_factory, client_for):
    server = server_factory(policy=merger)
    meta = client_for(server, role="meta")
    pairs = [
        (Prompt("Fine A."), Prompt("Fine B.")),
        (Prompt("FLAKY A."), Prompt("Other B.")),
        (Prompt("BROKEN A."), Prompt("Other B.")),
        (Prompt("ECHO A."), Prompt("Other B.")),
        (Prompt("SCAFFOLD A."), Prompt("Other B.")),
    ]
    children = await crossover_detailed(meta, TASK, pairs, random.Random(0), sampling=Sampling())
    texts = [c.prompt.instruction for c in children]
    assert texts == ["MERGED: Fine A. + Fine B.", "MERGED: FLAKY A. + Other B.", "BROKEN A.", "ECHO A.", "SCAFFOLD A."]
    assert [c.meta.attempts for c in children] == [1, 2, 2, 2, 2]
    assert [c.meta.fell_back for c in children] == [False, False, True, True, True]
    assert children[3].meta.rejections == ("echo of the meta-prompt",) * 2
    # 5 first attempts + 4 retries, and nothing else.
    assert server.stats().requests_total == 9
    await meta.aclose()


async def test_child_examples_are_a_random_half_deterministic_under_seed(server_factory, client_for):
    server = server_factory(policy=merger)
    meta = client_for(server, role="meta")
    a = Prompt("A.", tuple(SHOTS[:3]))
    b = Prompt("B.", (SHOTS[2], SHOTS[3], SHOTS[4]))  # SHOTS[2] is shared
    pool = set(SHOTS[:5])
    runs = []
    for _ in range(2):
        children = await crossover(meta, TASK, [(a, b)] * 3, random.Random(42), sampling=Sampling())
        runs.append([c.examples for c in children])
    assert runs[0] == runs[1]
    for examples in runs[0]:
        assert len(examples) == 2 and len(set(examples)) == 2 and set(examples) <= pool
    draws = {child_examples(a, b, random.Random(seed)) for seed in range(30)}
    assert len(draws) > 5  # different seeds draw different halves / orders
    assert child_examples(Prompt("x", (SHOTS[0],)), Prompt("y", (SHOTS[0],)), random.Random(1)) == ()
    assert len(child_examples(Prompt("x", tuple(SHOTS[:4])), Prompt("y", tuple(SHOTS[4:7])), random.Random(1))) == 3
    await meta.aclose()


async def test_mutate_restyles_keeps_examples_and_falls_back(server_factory, client_for):
    server = server_factory(policy=rephraser)
    meta = client_for(server, role="meta")
    prompts = [
        Prompt("Label it.", (SHOTS[0], SHOTS[1])),
        Prompt("FLAKY one."),
        Prompt("BROKEN one.", (SHOTS[2],)),
    ]
    out = await mutate_detailed(meta, TASK, prompts, sampling=Sampling())
    assert [o.prompt.instruction for o in out] == ["RESTYLED: LABEL IT.", "RESTYLED: FLAKY ONE.", "BROKEN one."]
    assert [o.prompt.examples for o in out] == [p.examples for p in prompts]
    assert [o.meta.fell_back for o in out] == [False, False, True]
    assert server.stats().requests_total == 3 + 2
    plain = await mutate(meta, TASK, prompts[:1], sampling=Sampling())
    assert plain == [out[0].prompt]
    await meta.aclose()


async def test_mutate_rejects_an_echo(server_factory, client_for):
    def echoer(request):
        return "<prompt>Rewrite the current instruction so that it asks for exactly the same thing</prompt>"

    server = server_factory(policy=echoer)
    meta = client_for(server, role="meta")
    [child] = await mutate(meta, TASK, [Prompt("Label it.")], sampling=Sampling())
    assert child.instruction == "Label it."
    assert server.stats().requests_total == 2
    await meta.aclose()
