"""Mutation (CAPO §4): have the meta-LLM rephrase an instruction in a clearly different style.

Only the instruction changes here; few-shot edits (add/remove/keep) are separate
(:mod:`promptopt.operators.fewshot`) because adding an example costs downstream calls that the
optimizer batches across all children.
"""

from __future__ import annotations

from typing import Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.operators.meta import Offspring, meta_generate, template_sentences
from promptopt.operators.proposals import ProposalGuard
from promptopt.prompt import Prompt

__all__ = ["MUTATION_TEMPLATE", "mutate", "mutate_detailed", "mutation_meta_prompt"]

#: Our mutation meta-prompt. Placeholders: ``{task}``, ``{instruction}``.
MUTATION_TEMPLATE = """\
You design instructions that tell a language model how to solve a task.

Task:
{task}

Current instruction:
{instruction}

Rewrite the current instruction so that it asks for exactly the same thing in a noticeably \
different style: change the wording, the structure and the tone substantially. \
Preserve any answer format that it requires. \
Put only the rewritten instruction between <prompt> and </prompt>."""

_SCAFFOLDING = template_sentences(MUTATION_TEMPLATE)


def mutation_meta_prompt(task_description: str, instruction: str) -> str:
    """The meta-prompt asking to restyle ``instruction`` for this task."""
    return MUTATION_TEMPLATE.format(task=task_description.strip(), instruction=instruction.strip())


async def mutate_detailed(
    meta: LLMClient,
    task_description: str,
    prompts: Sequence[Prompt],
    *,
    sampling: Sampling,
    guard: ProposalGuard | None = None,
) -> list[Offspring]:
    """Like :func:`mutate`, with each result's :class:`MetaResult` (an unchanged instruction is
    rejected)."""
    results = await meta_generate(
        meta,
        [mutation_meta_prompt(task_description, p.instruction) for p in prompts],
        [p.instruction for p in prompts],
        sampling=sampling,
        scaffolding=_SCAFFOLDING,
        parents=[(p.instruction,) for p in prompts],
        guard=guard,
    )
    return [
        Offspring(Prompt(result.text, prompt.examples), result)
        for result, prompt in zip(results, prompts)
    ]


async def mutate(
    meta: LLMClient, task_description: str, prompts: Sequence[Prompt], *, sampling: Sampling
) -> list[Prompt]:
    """One rephrased prompt per input prompt, in order, from one meta-LLM batch.

    Examples are kept unchanged; the instruction falls back to the prompt's own when the
    meta-LLM gives no valid answer after one retry.
    """
    mutated = await mutate_detailed(meta, task_description, prompts, sampling=sampling)
    return [child.prompt for child in mutated]
