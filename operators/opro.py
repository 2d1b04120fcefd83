"""OPRO's operator: show the meta-LLM the scored trajectory, ask for better instructions.

The meta-prompt shows a few task examples, then the best instructions found so far with their dev
scores from the lowest score to the highest, and asks for a new instruction that should beat them
all. The trajectory, not the examples, sits next to the request: with three AG News articles last,
Qwen2.5-Coder-0.5B went on writing news instead of an instruction. Example inputs are shortened to
:data:`EXAMPLE_CHARS` for the same reason (the meta-LLM needs the task's shape, not whole
articles). Several samples of the same meta-prompt are drawn at once; each is validated like every
other meta-LLM answer.
"""

from __future__ import annotations

import re
from typing import Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.operators.meta import AnswerShape, MetaResult, meta_generate, template_sentences
from promptopt.operators.proposals import ProposalGuard

__all__ = [
    "EXAMPLE_CHARS",
    "OPRO_EXAMPLE",
    "OPRO_PAIR",
    "OPRO_TEMPLATE",
    "opro_meta_prompt",
    "propose_instructions",
    "shorten_example",
]

#: Our OPRO meta-prompt. Placeholders: ``{task}``, ``{trajectory}`` (:data:`OPRO_PAIR` blocks) and
#: ``{examples}`` (:data:`OPRO_EXAMPLE` blocks).
OPRO_TEMPLATE = """\
You design instructions that tell a language model how to solve a task.

Task:
{task}

This is what the task looks like (an input, then the expected answer):

{examples}

Below are instructions that were tried on this task, each followed by its score: the percentage \
of practice examples the model answered correctly when given that instruction. They are listed \
from the lowest score to the highest.

{trajectory}

Write a new instruction that differs from every instruction above and that you expect to score \
higher than all of them. Preserve any answer format that the task requires. \
Put only the new instruction between <prompt> and </prompt>."""

#: One (instruction, score) pair of the trajectory. Placeholders: ``{instruction}``, ``{score}``.
OPRO_PAIR = "Instruction:\n{instruction}\nScore: {score}"

#: One task example. Placeholders: ``{input}``, ``{answer}``.
OPRO_EXAMPLE = "Input:\n{input}\nExpected answer:\n{answer}"

#: An example input longer than this is cut at a word boundary and marked with "…".
EXAMPLE_CHARS = 300

_SCAFFOLDING = template_sentences(OPRO_TEMPLATE)

#: The pair's own labels copied around an answer: Qwen2.5-Coder-0.5B continued the trajectory's
#: pattern and wrote "...criticizes it.\nScore: 100" inside the tags.
_PAIR_LABELS = re.compile(r"^\s*instruction:\s*|\s*\bscore:\s*\d+(?:\.\d+)?\s*%?\s*$", re.IGNORECASE)


def strip_pair_labels(text: str) -> str:
    """``text`` without a leading "Instruction:" and a trailing "Score: N" (:data:`OPRO_PAIR`)."""
    return _PAIR_LABELS.sub("", text).strip()


#: Words of OPRO's request that a task instruction never needs: an answer containing them writes
#: about the optimization ("Create a new instruction that will score higher than the other
#: instructions above"), not the task.
_SHAPE = AnswerShape(
    clean=strip_pair_labels,
    request_phrases=("new instruction", "instructions above", "instruction above", "score higher"),
)


def shorten_example(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """``text`` stripped, cut to at most ``limit`` characters at a word boundary, "…" marking a cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip() + " …"


def _percent(score: float) -> str:
    return f"{round(100 * score)}"


def opro_meta_prompt(
    task_description: str,
    scored: Sequence[tuple[str, float]],
    examples: Sequence[tuple[str, str]],
) -> str:
    """The meta-prompt for ``scored`` (instruction, score in [0, 1]) pairs and ``(input, answer)``
    examples (inputs shortened by :func:`shorten_example`). Pairs are shown sorted by ascending
    score (stable: equal scores keep their order); choosing which pairs to show (OPRO: the best
    20) is the caller's decision."""
    ordered = sorted(scored, key=lambda pair: pair[1])
    trajectory = "\n\n".join(
        OPRO_PAIR.format(instruction=text.strip(), score=_percent(score)) for text, score in ordered
    )
    shown = "\n\n".join(OPRO_EXAMPLE.format(input=shorten_example(x), answer=y.strip()) for x, y in examples)
    return OPRO_TEMPLATE.format(task=task_description.strip(), trajectory=trajectory, examples=shown)


async def propose_instructions(
    meta: LLMClient,
    meta_prompt: str,
    n: int,
    *,
    sampling: Sampling,
    fallback: str,
    first_sample: int = 0,
    shown: Sequence[str] = (),
    guard: ProposalGuard | None = None,
) -> list[MetaResult]:
    """``n`` samples of one OPRO meta-prompt, in one batch (retries in a second).

    Sample ``k`` uses sample index ``first_sample + 2k`` (its retry ``+ 1``), so the samples are
    distinct cache entries; pass a different ``first_sample`` per step. A sample that stays
    invalid becomes ``fallback`` (the optimizer passes an instruction it already has, which the
    candidate registry then drops as a duplicate). A proposal that repeats one of the ``shown``
    instructions is rejected.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return await meta_generate(
        meta,
        [meta_prompt] * n,
        [fallback] * n,
        sampling=sampling,
        scaffolding=_SCAFFOLDING,
        sample_indices=[first_sample + 2 * k for k in range(n)],
        parents=[tuple(shown)] * n,
        guard=guard,
        shape=_SHAPE,
    )
