"""Rubric operators for the meta-judge: analysis, refinement, merge (MPO's meta step).

1. analysis, one call per sampled output: the meta-judge sees the task, the input, the output,
   the whole rubric, the judge's per-item rationales and scores, and a reference when there is
   one; it critiques whether the reward is inflated and whether the items cover and discriminate;
2. refinement, the same conversation: a complete candidate rubric;
3. merge, one call: every candidate plus the current rubric become the next rubric, with distinct
   items stated in general terms.

The meta-judge has its own persona (:data:`META_JUDGE_SYSTEM`), distinct from the judge's. Only a
rubric that parses is ever returned; whether it is adopted is the acceptance gate's decision
(:mod:`promptopt.judging.gate`). The meta-prompt texts are ours and live here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from promptopt.operators.meta import extract_tagged

from promptopt.judging.judge import ItemScore
from promptopt.judging.rubric import Rubric, RubricError, parse_rubric_text
from promptopt.llm.client import LLMClient
from promptopt.llm.records import Message, Sampling

__all__ = [
    "ANALYSIS_TEMPLATE",
    "MERGE_TEMPLATE",
    "META_JUDGE_SYSTEM",
    "REFINE_TEMPLATE",
    "RUBRIC_SHAPE",
    "GradedOutput",
    "MergeResult",
    "RubricProposal",
    "analysis_meta_prompt",
    "analyze_and_refine",
    "merge_meta_prompt",
    "merge_rubrics",
]

META_JUDGE_SYSTEM = (
    "You audit grading rubrics for a language-model judge. You look for every way an output could "
    "collect points without doing what the task asks, and you write criteria that close those gaps."
)

#: Placeholders are filled by plain replacement: ``<<task>>``, ``<<input>>``, ``<<reference>>``,
#: ``<<output>>``, ``<<rubric>>``, ``<<reward>>``, ``<<grades>>``.
ANALYSIS_TEMPLATE = """\
Audit how one output was graded.

The task the output should accomplish:
<<task>>

The input:
<<input>>
<<reference>>
The graded output:
<output>
<<output>>
</output>

The rubric in use:
<<rubric>>

The judge's grades (overall reward <<reward>> out of 1):
<<grades>>

Critique this grading in a few sentences. Is the reward inflated: does the output earn points \
without doing what the task really asks, for instance by padding, repeating the input, listing \
keywords, refusing, stopping mid-sentence or using the wrong language? Do the items cover the \
purpose of the task and separate good outputs from bad ones? Say which items to add, drop or \
sharpen; severe failures deserve no points."""

#: The answer shape both rubric-writing requests end with. Qwen2.5-Coder-0.5B answered a merge
#: request that described the JSON without showing it in prose, twice; shown a one-item example,
#: it merged every time into one item. The example has three, the fewest the gate takes.
RUBRIC_SHAPE = """\
Put the rubric as JSON between <rubric> and </rubric>, like this:
<rubric>{"items": [{"name": "first_criterion", "description": "what earns this item's points", "max": 5}, \
{"name": "second_criterion", "description": "what earns this item's points", "max": 5}, \
{"name": "third_criterion", "description": "what earns this item's points", "max": 5}]}</rubric>"""

REFINE_TEMPLATE = """\
Now write the complete revised rubric. Use 3 to 12 items that do not overlap. Give every item a \
short snake_case name, a description of what earns its points, and an explicit whole-number \
maximum. State each criterion in general terms: never quote this input, this output or the \
reference. """ + RUBRIC_SHAPE

#: Placeholders: ``<<task>>``, ``<<current>>``, ``<<candidates>>``.
MERGE_TEMPLATE = """\
You keep the grading rubric of this task:
<<task>>

The rubric in use:
<<current>>

After auditing graded outputs, reviewers proposed these revised rubrics:
<<candidates>>

Combine them into one rubric. Keep the criteria that several proposals share and those that stop \
outputs from earning points without doing the task; merge duplicates and overlapping items; \
state every item in general terms, without quoting any particular input or output. Use 3 to 12 \
items, each with a snake_case name, a description and a whole-number maximum. """ + RUBRIC_SHAPE

_REFERENCE_BLOCK = "\nA reference answer:\n<<value>>\n"
_MERGE_RETRY = "That rubric could not be used: {why}. Reply again with the rubric as JSON between <rubric> and </rubric>."


@dataclass(frozen=True)
class GradedOutput:
    """An output as the meta-judge sees it: input, output, the judge's grades, an optional reference."""

    input_text: str
    output: str
    reward: float
    items: tuple[ItemScore, ...]
    reference: str | None = None


@dataclass(frozen=True)
class RubricProposal:
    """One sample's critique and candidate rubric (None when the answer did not parse: ``error``)."""

    critique: str
    rubric: Rubric | None
    error: str | None = None


@dataclass(frozen=True)
class MergeResult:
    rubric: Rubric | None
    raw: tuple[str, ...]
    error: str | None = None


def _fill(template: str, values: dict[str, str]) -> str:
    # one pass, so placeholder-like text inside an output is never expanded
    return re.sub("|".join(re.escape(k) for k in values), lambda m: values[m.group(0)], template)


def _grades(items: Sequence[ItemScore]) -> str:
    if not items:
        return "(no item grades: the output was stopped by a guard or the judge failed)"
    return "\n".join(
        f"- {i.name}: {i.score}/{i.max_score}" + (f" ({i.rationale})" if i.rationale else "") for i in items
    )


def analysis_meta_prompt(task_description: str, rubric: Rubric, graded: GradedOutput) -> str:
    reference = _REFERENCE_BLOCK.replace("<<value>>", graded.reference.strip()) if graded.reference else ""
    return _fill(
        ANALYSIS_TEMPLATE,
        {
            "<<task>>": task_description.strip(),
            "<<input>>": graded.input_text.strip(),
            "<<reference>>": reference,
            "<<output>>": graded.output.strip(),
            "<<rubric>>": rubric.render(),
            "<<reward>>": f"{graded.reward:.2f}",
            "<<grades>>": _grades(graded.items),
        },
    )


def merge_meta_prompt(task_description: str, current: Rubric, candidates: Sequence[Rubric]) -> str:
    shown = "\n\n".join(f"Proposal {n}:\n{c.render()}" for n, c in enumerate(candidates, start=1))
    return _fill(
        MERGE_TEMPLATE,
        {"<<task>>": task_description.strip(), "<<current>>": current.render(), "<<candidates>>": shown},
    )


def _read_rubric(text: str, where: str) -> Rubric:
    tagged = extract_tagged(text, "rubric")
    return parse_rubric_text(tagged if tagged is not None else text, where=where)


async def analyze_and_refine(
    meta: LLMClient,
    task_description: str,
    rubric: Rubric,
    samples: Sequence[GradedOutput],
    *,
    sampling: Sampling,
) -> list[RubricProposal]:
    """One proposal per sample, in order: an analysis batch, then a refinement batch."""
    if not samples:
        return []
    conversations = [
        [Message("system", META_JUDGE_SYSTEM), Message("user", analysis_meta_prompt(task_description, rubric, s))]
        for s in samples
    ]
    analyses = await meta.complete([sampling.request(c) for c in conversations])
    live = [i for i, r in enumerate(analyses) if r.ok and r.text.strip()]
    follow = [
        conversations[i] + [Message("assistant", analyses[i].text), Message("user", REFINE_TEMPLATE)] for i in live
    ]
    refined = dict(zip(live, await meta.complete([sampling.request(c) for c in follow]))) if follow else {}
    proposals = []
    for i, analysis in enumerate(analyses):
        if i not in refined:
            why = analysis.error or "empty analysis"
            proposals.append(RubricProposal("", None, f"analysis failed: {why}"))
            continue
        answer = refined[i]
        if not answer.ok:
            proposals.append(RubricProposal(analysis.text, None, f"refinement failed: {answer.error}"))
            continue
        try:
            proposals.append(RubricProposal(analysis.text, _read_rubric(answer.text, f"refinement {i + 1}")))
        except RubricError as exc:
            proposals.append(RubricProposal(analysis.text, None, str(exc)))
    return proposals


async def merge_rubrics(
    meta: LLMClient,
    task_description: str,
    current: Rubric,
    candidates: Sequence[Rubric],
    *,
    sampling: Sampling,
    min_items: int = 3,
) -> MergeResult:
    """The next rubric from the candidates and the current one; one retry when it does not parse
    or has fewer than ``min_items`` items (the request asks for at least that many).

    The result's version is ``current.version + 1`` (origin "merge"); the gate decides on it.
    """
    if not candidates:
        return MergeResult(None, (), "no candidate rubric to merge")
    conversation = [Message("system", META_JUDGE_SYSTEM), Message("user", merge_meta_prompt(task_description, current, candidates))]
    raws: list[str] = []
    why = ""
    for attempt in (1, 2):
        response = await meta.complete_one(sampling.request(conversation))
        raws.append(response.text if response.ok else "")
        if not response.ok:
            why = f"merge request failed: {response.error}"
            break
        try:
            merged = _read_rubric(response.text, "merge answer")
            if len(merged.items) < min_items:
                raise RubricError(f"the merged rubric has {len(merged.items)} item(s), at least {min_items} are needed")
        except RubricError as exc:
            why = str(exc)
            conversation = conversation + [
                Message("assistant", response.text),
                Message("user", _MERGE_RETRY.format(why=why)),
            ]
            continue
        return MergeResult(current.next_version(merged.items, origin="merge"), tuple(raws))
    return MergeResult(None, tuple(raws), why)
