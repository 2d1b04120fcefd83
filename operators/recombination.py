"""Crossover (CAPO §4): merge two parents' instructions with the meta-LLM, mix their examples.

The meta-LLM sees the task and both instructions and writes one instruction that keeps what
each does well; the child's few-shot examples are a random half of the parents' pooled examples.
All pairs of one generation go out as a single concurrent batch. (The module is not called
``crossover`` so that it never shadows the :func:`crossover` function on the package.)
"""

from __future__ import annotations

import random
from typing import Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.operators.meta import Offspring, meta_generate, template_sentences
from promptopt.operators.proposals import ProposalGuard
from promptopt.prompt import FewShot, Prompt

__all__ = [
    "CROSSOVER_TEMPLATE",
    "Offspring",
    "child_examples",
    "crossover",
    "crossover_detailed",
    "crossover_meta_prompt",
]

#: Our crossover meta-prompt. Placeholders: ``{task}``, ``{first}``, ``{second}``.
CROSSOVER_TEMPLATE = """\
You design instructions that tell a language model how to solve a task.

Task:
{task}

Instruction A:
{first}

Instruction B:
{second}

Write one new instruction for this task that blends A and B into a single coherent whole, \
keeping the key features of both. Preserve any answer format that they require. \
Put only the new instruction between <prompt> and </prompt>."""

_SCAFFOLDING = template_sentences(CROSSOVER_TEMPLATE)


def crossover_meta_prompt(task_description: str, first: str, second: str) -> str:
    """The meta-prompt asking to merge ``first`` and ``second`` for this task."""
    return CROSSOVER_TEMPLATE.format(
        task=task_description.strip(), first=first.strip(), second=second.strip()
    )


def child_examples(a: Prompt, b: Prompt, rng: random.Random) -> tuple[FewShot, ...]:
    """A random half of the parents' combined examples, deduplicated, in the order drawn.

    Half is ``len(pool) // 2`` of the deduplicated pool (rounded down, as the reference does for
    its pooled list), so two parents with one shared example give a child with none.
    """
    pool = list(dict.fromkeys(a.examples + b.examples))
    return tuple(rng.sample(pool, len(pool) // 2))


async def crossover_detailed(
    meta: LLMClient,
    task_description: str,
    pairs: Sequence[tuple[Prompt, Prompt]],
    rng: random.Random,
    *,
    sampling: Sampling,
    guard: ProposalGuard | None = None,
) -> list[Offspring]:
    """Like :func:`crossover`, with each child's :class:`MetaResult` (a child that copies a
    parent's instruction is rejected)."""
    examples = [child_examples(a, b, rng) for a, b in pairs]
    results = await meta_generate(
        meta,
        [crossover_meta_prompt(task_description, a.instruction, b.instruction) for a, b in pairs],
        [a.instruction for a, _ in pairs],
        sampling=sampling,
        scaffolding=_SCAFFOLDING,
        parents=[(a.instruction, b.instruction) for a, b in pairs],
        guard=guard,
    )
    return [
        Offspring(Prompt(result.text, shots), result)
        for result, shots in zip(results, examples)
    ]


async def crossover(
    meta: LLMClient,
    task_description: str,
    pairs: Sequence[tuple[Prompt, Prompt]],
    rng: random.Random,
    *,
    sampling: Sampling,
) -> list[Prompt]:
    """One child per (first, second) parent pair, in order, from one meta-LLM batch.

    A child's instruction falls back to the first parent's when the meta-LLM gives no valid
    answer after one retry; its examples come from :func:`child_examples` (drawn with ``rng``,
    before any request, so the draw does not depend on the responses).
    """
    children = await crossover_detailed(meta, task_description, pairs, rng, sampling=sampling)
    return [child.prompt for child in children]
