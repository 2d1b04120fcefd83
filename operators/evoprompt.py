"""EvoPrompt's operators: GA (crossover then mutation in one request) and DE (mutate where two
donors differ, merge into the best, cross over with the current), both on instruction text.

Each child is one meta-LLM request; all children of a generation go out as one batch and are
validated like every other meta-LLM answer (a child that stays invalid falls back to a parent's
instruction, which the optimizer's registry then drops as a duplicate). The DE request lets the
model write its intermediate steps first: only the last ``<prompt>`` pair is used.
"""

from __future__ import annotations

from typing import Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.operators.meta import MetaResult, meta_generate, template_sentences
from promptopt.operators.proposals import ProposalGuard

__all__ = [
    "DE_TEMPLATE",
    "GA_TEMPLATE",
    "de_meta_prompt",
    "evolve_de",
    "evolve_ga",
    "ga_meta_prompt",
    "roulette_pick",
]

#: Our EvoPrompt-GA meta-prompt. Placeholders: ``{task}``, ``{first}``, ``{second}``.
GA_TEMPLATE = """\
You design instructions that tell a language model how to solve a task.

Task:
{task}

Parent instruction 1:
{first}

Parent instruction 2:
{second}

Produce a child instruction in two steps. Step one, crossover: combine parts of both parents \
into one instruction. Step two, mutation: change some of the wording of that combination so \
that it tries something the parents did not. Preserve any answer format that the task requires. \
Put only the final child instruction between <prompt> and </prompt>."""

#: Our EvoPrompt-DE meta-prompt. Placeholders: ``{task}``, ``{donor_a}``, ``{donor_b}``,
#: ``{best}``, ``{current}``.
DE_TEMPLATE = """\
You design instructions that tell a language model how to solve a task.

Task:
{task}

Donor instruction A:
{donor_a}

Donor instruction B:
{donor_b}

Best instruction so far:
{best}

Current instruction:
{current}

Produce a new instruction in four steps. 1. Find the parts in which donor A and donor B \
differ. 2. Rewrite those differing parts freely, keeping them sensible for the task. \
3. Merge the rewritten parts into the best instruction so far. 4. Cross the result over with \
the current instruction, taking some parts from each. Preserve any answer format that the task \
requires. You may write out the steps first; put only the final instruction between <prompt> \
and </prompt>."""

_GA_SCAFFOLDING = template_sentences(GA_TEMPLATE)
_DE_SCAFFOLDING = template_sentences(DE_TEMPLATE)


def ga_meta_prompt(task_description: str, first: str, second: str) -> str:
    """The GA meta-prompt: cross ``first`` with ``second``, then mutate the result."""
    return GA_TEMPLATE.format(task=task_description.strip(), first=first.strip(), second=second.strip())


def de_meta_prompt(task_description: str, donor_a: str, donor_b: str, best: str, current: str) -> str:
    """The DE meta-prompt: mutate where the donors differ, merge into ``best``, cross with ``current``."""
    return DE_TEMPLATE.format(
        task=task_description.strip(),
        donor_a=donor_a.strip(),
        donor_b=donor_b.strip(),
        best=best.strip(),
        current=current.strip(),
    )


def roulette_pick(weights: Sequence[float], u: float, exclude: int | None = None) -> int:
    """The index a roulette wheel with slots of size ``weights`` stops at for ``u`` in [0, 1).

    ``exclude`` takes one slot off the wheel (a second parent distinct from the first). Negative
    weights count as 0; when every remaining weight is 0 the wheel is uniform.
    """
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u must be in [0, 1), got {u}")
    slots = [i for i in range(len(weights)) if i != exclude]
    if not slots:
        raise ValueError("roulette_pick needs at least one slot besides the excluded one")
    sizes = [max(0.0, float(weights[i])) for i in slots]
    total = sum(sizes)
    if total <= 0.0:
        sizes, total = [1.0] * len(slots), float(len(slots))
    target, edge = u * total, 0.0
    for index, size in zip(slots, sizes):
        edge += size
        if target < edge:
            return index
    return slots[-1]  # u * total rounded up to the last edge


async def evolve_ga(
    meta: LLMClient,
    task_description: str,
    pairs: Sequence[tuple[str, str]],
    *,
    sampling: Sampling,
    first_sample: int = 0,
    guard: ProposalGuard | None = None,
) -> list[MetaResult]:
    """One child instruction per (first, second) parent pair, from one meta batch.

    Sample indices are ``first_sample + 2k`` (retries ``+ 1``): two children of the same parent
    pair are different cache entries. Fallback: the first parent's instruction.
    """
    return await meta_generate(
        meta,
        [ga_meta_prompt(task_description, a, b) for a, b in pairs],
        [a for a, _ in pairs],
        sampling=sampling,
        scaffolding=_GA_SCAFFOLDING,
        sample_indices=[first_sample + 2 * k for k in range(len(pairs))],
        parents=list(pairs),
        guard=guard,
    )


async def evolve_de(
    meta: LLMClient,
    task_description: str,
    jobs: Sequence[tuple[str, str, str, str]],
    *,
    sampling: Sampling,
    first_sample: int = 0,
    guard: ProposalGuard | None = None,
) -> list[MetaResult]:
    """One trial instruction per (donor_a, donor_b, best, current), from one meta batch.

    Sample indices as in :func:`evolve_ga`. Fallback: the current instruction (the trial is then
    a duplicate and the current one stays).
    """
    return await meta_generate(
        meta,
        [de_meta_prompt(task_description, a, b, best, current) for a, b, best, current in jobs],
        [current for _, _, _, current in jobs],
        sampling=sampling,
        scaffolding=_DE_SCAFFOLDING,
        sample_indices=[first_sample + 2 * k for k in range(len(jobs))],
        parents=list(jobs),
        guard=guard,
    )
