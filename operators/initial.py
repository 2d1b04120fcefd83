"""Initial instructions (CAPO §3): use the user's, generate the rest from the task description.

The reference implementation crashes when it is given a single prompt (crossover needs two
distinct parents); here a user may give none or one, and the meta-LLM writes the others. When the
meta-LLM cannot (errors, chatter, duplicates), deterministic variations of the task description
fill the gap, so the optimizer always gets the number of distinct instructions it asked for.
"""

from __future__ import annotations

from typing import Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.operators.meta import meta_generate, template_sentences
from promptopt.operators.proposals import normalize

__all__ = [
    "FILL_TEMPLATES",
    "INITIAL_ANGLES",
    "INITIAL_TEMPLATE",
    "fill_instructions",
    "initial_instructions",
    "initial_meta_prompt",
]

#: Our meta-prompt for writing a first instruction. Placeholders: ``{task}``, ``{reference}``
#: (empty, or :data:`REFERENCE_BLOCK` filled in) and ``{angle}`` (one of :data:`INITIAL_ANGLES`).
INITIAL_TEMPLATE = """\
You design instructions that tell a language model how to solve a task.

Task:
{task}
{reference}
Write one instruction that a language model can follow to solve this task well. {angle} \
Preserve any answer format that the task requires. \
Put only the instruction between <prompt> and </prompt>."""

#: Shown when the user gave one instruction, so the generated ones differ from it.
REFERENCE_BLOCK = """
An instruction someone already wrote for this task (write a clearly different one):
{given}
"""

#: One style hint per generated instruction (cycled), so the samples differ in more than noise.
INITIAL_ANGLES: tuple[str, ...] = (
    "Keep it short and direct.",
    "Ask the model to reason step by step before giving its answer.",
    "Address the model as an expert in the domain of the task.",
    "Spell out what the model should pay attention to in the input.",
    "Give the model a brief checklist to follow.",
    "Use a friendly, conversational tone.",
    "Use precise, formal wording.",
    "Warn the model about mistakes that are easy to make on this task.",
)

#: Deterministic variations of the task description used when the meta-LLM falls short; past
#: the end of this list, numbered variants ("(Variant 7.)") keep the fill distinct for any n.
FILL_TEMPLATES: tuple[str, ...] = (
    "{task}",
    "{task}\nThink it through step by step before you answer.",
    "Read the input carefully. {task}",
    "You are an expert at this task. {task}",
    "{task}\nBe precise and follow the required answer format exactly.",
    "{task}\nConsider the whole input before you decide.",
)

_SCAFFOLDING = template_sentences(INITIAL_TEMPLATE) + template_sentences(REFERENCE_BLOCK)


def initial_meta_prompt(task_description: str, given: str | None, index: int) -> str:
    """The meta-prompt for the ``index``-th generated instruction (its angle cycles)."""
    reference = REFERENCE_BLOCK.format(given=given.strip()) if given else ""
    return INITIAL_TEMPLATE.format(
        task=task_description.strip(),
        reference=reference,
        angle=INITIAL_ANGLES[index % len(INITIAL_ANGLES)],
    )


def fill_instructions(task_description: str, taken: Sequence[str], count: int) -> list[str]:
    """``count`` deterministic variations of the description, distinct from ``taken`` and each other.

    Distinctness ignores case and whitespace. An empty description falls back to a generic one.
    """
    base = task_description.strip() or "Solve the task described by the input."
    seen = {normalize(text) for text in taken}
    out: list[str] = []
    k = 0
    while len(out) < count:
        if k < len(FILL_TEMPLATES):
            text = FILL_TEMPLATES[k].format(task=base)
        else:
            text = f"{base}\n(Variant {k + 1}.)"
        k += 1
        if normalize(text) not in seen:
            seen.add(normalize(text))
            out.append(text)
    return out


async def initial_instructions(
    meta: LLMClient,
    task_description: str,
    given: Sequence[str],
    n: int,
    *,
    sampling: Sampling,
) -> list[str]:
    """``n`` distinct instructions, the given ones first.

    The given instructions are stripped, empty ones dropped and duplicates (ignoring case and
    whitespace) removed. With two or more left they are returned as they are, all of them even
    when more than ``n`` (the optimizer samples μ from them), and the meta-LLM is not called.
    With fewer than two, the missing ``n - len(given)`` are generated in one meta batch: one
    meta-prompt per missing instruction, each with its own style angle and sample index ``2k``
    (retries use ``2k + 1``), so no two requests are the same cache entry. Generated texts that
    duplicate a given or earlier one are dropped, and the shortfall is filled by
    :func:`fill_instructions`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    kept: list[str] = []
    seen: set[str] = set()
    for text in given:
        text = text.strip()
        if text and normalize(text) not in seen:
            seen.add(normalize(text))
            kept.append(text)
    if len(kept) >= 2 or len(kept) >= n:
        return kept

    missing = n - len(kept)
    reference = kept[0] if kept else None
    results = await meta_generate(
        meta,
        [initial_meta_prompt(task_description, reference, k) for k in range(missing)],
        [""] * missing,
        sampling=sampling,
        scaffolding=_SCAFFOLDING,
        sample_indices=[2 * k for k in range(missing)],
    )
    for result in results:
        if result.ok and normalize(result.text) not in seen:
            seen.add(normalize(result.text))
            kept.append(result.text)
    kept.extend(fill_instructions(task_description, kept, n - len(kept)))
    return kept
