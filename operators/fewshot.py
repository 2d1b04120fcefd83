"""Few-shot examples (CAPO §3–4): sample them, build them with the model's reasoning, edit them.

A shot shows the downstream model's own full response when that response got the answer right,
so the demonstration teaches reasoning in the model's voice; otherwise it shows only the gold
answer in the answer tag. Building shots costs downstream calls, so all of them go out as one
batch.
"""

from __future__ import annotations

import random
from typing import Literal, Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.prompt import FewShot, Prompt
from promptopt.tasks.parsers import normalize_number
from promptopt.tasks.records import Example
from promptopt.tasks.task import Task
from promptopt.operators.proposals import normalize

__all__ = [
    "FEWSHOT_EDITS",
    "FewShotEdit",
    "answers_match",
    "apply_fewshot_edit",
    "bare_answer",
    "build_fewshots",
    "plan_fewshot_edits",
    "sample_fewshot_examples",
]

FewShotEdit = Literal["add", "remove", "keep"]
FEWSHOT_EDITS: tuple[FewShotEdit, ...] = ("add", "remove", "keep")

_DEFAULT_ANSWER_TAG = "final_answer"


def sample_fewshot_examples(
    pool: Sequence[Example], k_max: int, rng: random.Random
) -> list[Example]:
    """n ~ UniformInt[0, k_max] examples from ``pool``, without replacement (n capped at the pool)."""
    if k_max < 0:
        raise ValueError(f"k_max must be >= 0, got {k_max}")
    n = rng.randint(0, k_max)
    return rng.sample(list(pool), min(n, len(pool)))


def answers_match(predicted: str, target: str) -> bool:
    """Same answer after the same normalization on both sides.

    Both sides are casefolded, stripped and whitespace-collapsed; when both then read as a number
    they are compared numerically ("1,000" equals "1000.0"). Normalizing only one side, as the
    reference did, silently disables reasoning shots on tasks whose labels are capitalized.
    """
    a, b = normalize(predicted), normalize(target)
    x, y = normalize_number(a), normalize_number(b)
    if x is not None and y is not None:
        return x == y
    return a == b


def _answer_tag(task: Task) -> str:
    tag = getattr(task.parser, "tag", None)
    return tag if isinstance(tag, str) and tag else _DEFAULT_ANSWER_TAG


def bare_answer(task: Task, target: str) -> str:
    """The gold answer alone, in the task parser's answer tag (``<final_answer>`` by default)."""
    tag = _answer_tag(task)
    return f"<{tag}>{target}</{tag}>"


async def build_fewshots(
    downstream: LLMClient,
    task: Task,
    jobs: Sequence[tuple[str, Example]],
    *,
    renderer: str = "paper",
    sampling: Sampling,
) -> list[FewShot]:
    """One shot per (instruction, example), in order, from one downstream batch.

    The model answers the example's rendered input under the instruction alone (no other
    examples). A parsed answer that :func:`answers_match` the target makes the shot's output the
    model's full response (stripped); a wrong answer, a parse failure or a failed request gives
    :func:`bare_answer`. ``FewShot.input`` is the rendered input. These are downstream calls and
    are charged to the client's role.
    """
    inputs = [task.render_input(example) for _, example in jobs]
    requests = [
        sampling.request(Prompt(instruction).render(text, renderer))
        for (instruction, _), text in zip(jobs, inputs)
    ]
    responses = await downstream.complete(requests) if requests else []
    shots: list[FewShot] = []
    for (_, example), text, response in zip(jobs, inputs, responses):
        output = bare_answer(task, example.target)
        if response.ok:
            parsed = task.parse(response.text)
            if parsed.ok and parsed.value is not None and answers_match(parsed.value, example.target):
                output = response.text.strip()
        shots.append(FewShot(input=text, output=output))
    return shots


def plan_fewshot_edits(n: int, rng: random.Random) -> list[FewShotEdit]:
    """``n`` independent edits, each "add", "remove" or "keep" with probability 1/3.

    Planned before the mutation batch so the optimizer knows which children need a new shot
    built (one downstream batch for all of them).
    """
    return [rng.choice(FEWSHOT_EDITS) for _ in range(n)]


def apply_fewshot_edit(
    prompt: Prompt,
    edit: str,
    rng: random.Random,
    *,
    new_shot: FewShot | None,
    max_shots: int = 5,
    paper_compat: bool = False,
) -> Prompt:
    """The prompt with one few-shot edit applied, then its examples shuffled with ``rng``.

    - "add": append ``new_shot`` unless it is None (e.g. an empty few-shot pool), already
      present, or the prompt already has ``max_shots``;
    - "remove": drop one example chosen at random (no-op when there are none);
    - "keep": no change.

    ``paper_compat=True`` reproduces the reference code, where the remove test is an ``if`` that
    should have been ``elif``: after the add branch, the remove test fails for an "add" draw and
    that ``if``'s ``else`` (keep) runs, replacing the enlarged list with the original one. So
    "add" behaves exactly as "keep" (``new_shot`` may be None; the caller may still build it to
    reproduce the reference's cost), and the number of examples never increases.
    """
    if edit not in FEWSHOT_EDITS:
        raise ValueError(f"unknown few-shot edit {edit!r}: choose from {', '.join(FEWSHOT_EDITS)}")
    if max_shots < 0:
        raise ValueError(f"max_shots must be >= 0, got {max_shots}")
    shots = list(prompt.examples)
    if edit == "add" and not paper_compat:
        if new_shot is not None and new_shot not in shots and len(shots) < max_shots:
            shots.append(new_shot)
    elif edit == "remove" and shots:
        del shots[rng.randrange(len(shots))]
    rng.shuffle(shots)
    return Prompt(prompt.instruction, tuple(shots))
