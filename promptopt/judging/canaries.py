"""Canaries: degenerate outputs, built per task, that any acceptable judge setup must score near 0.

They are the hacks an argmax search finds first (the MPO paper saw all of them): an empty answer,
a refusal or "I'm ready when you are", an echo of the prompt or of the input, a title instead of an
answer, a truncated answer, length padding, a salad of the rubric's own keywords, the wrong
language. Each is built from a real example of the task, so it looks like an answer to that input.
A candidate rubric whose judge gives any of them a high reward is refused by the gate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from promptopt.judging.rubric import Rubric
from promptopt.tasks.records import Example

__all__ = ["CANARY_KINDS", "Canary", "build_canaries", "rubric_keywords"]

CANARY_KINDS: tuple[str, ...] = (
    "empty",
    "refusal",
    "prompt_echo",
    "input_echo",
    "title_only",
    "truncated",
    "padding",
    "keyword_salad",
    "wrong_language",
)

_REFUSAL = "I'm ready when you are! Please send me the text and I will get started right away."
_FILLER = (
    "It is also worth noting that this point is important and relevant in many ways.",
    "Furthermore, there are many additional aspects to consider here in great detail.",
    "In addition, this shows clearly how much there is to say about the topic overall.",
)
_FOREIGN = {
    "de": "Dies ist eine kurze und sehr gute Zusammenfassung über {subject}, die alles erklärt.",
    "en": "This is a short and very good summary about {subject} that explains everything.",
}
_STOP = frozenset(
    "the a an and or of to in on is are was were it this that with for as by be has have from at not "
    "but its their which who output outputs item items score earns should must".split()
)


@dataclass(frozen=True)
class Canary:
    """One degenerate output for one example; ``prompt`` is the instruction it pretends to answer."""

    kind: str
    example: Example
    output: str
    prompt: str = ""


def _words(text: str) -> list[str]:
    return text.split()


def _first_sentence(text: str) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)
    return parts[0] if parts else text


def rubric_keywords(rubric: Rubric, limit: int = 12) -> list[str]:
    """Distinctive words of the rubric's descriptions (what a keyword-stuffing output repeats)."""
    seen: dict[str, None] = {}
    for item in rubric.items:
        for word in re.findall(r"[A-Za-z]{4,}", f"{item.name.replace('_', ' ')} {item.description}"):
            key = word.casefold()
            if key not in _STOP:
                seen.setdefault(key, None)
    return list(seen)[:limit]


def build_canaries(
    examples: Sequence[Example],
    render_input: Callable[[Example], str],
    *,
    task_description: str,
    rubric: Rubric,
    language: str | None = None,
    per_kind: int = 1,
) -> list[Canary]:
    """The canary set for a task: every kind on the first ``per_kind`` examples.

    ``rubric`` is the rubric under test (the keyword salad repeats its words); ``language`` adds a
    wrong-language canary when the task declares one.
    """
    canaries: list[Canary] = []
    for example in list(examples)[: max(1, per_kind)]:
        text = render_input(example)
        first = _first_sentence(text)
        words = _words(first)
        subject = " ".join(words[:2]) if words else "it"
        padding = [first]
        while len(" ".join(padding).split()) < 80:
            padding.append(_FILLER[len(padding) % len(_FILLER)])
        salad = " ".join([subject, *rubric_keywords(rubric)])
        built = [
            ("empty", ""),
            ("refusal", _REFUSAL),
            ("prompt_echo", task_description.strip()),
            ("input_echo", text),
            ("title_only", " ".join(w.strip(".,;:") for w in words[:3]).title()),
            ("truncated", " ".join(words[: max(3, len(words) // 2)]).rstrip(".,;:") + " and the"),
            ("padding", " ".join(padding)),
            ("keyword_salad", salad),
        ]
        if language is not None:
            foreign = _FOREIGN["de" if language != "de" else "en"]
            built.append(("wrong_language", foreign.format(subject=subject)))
        canaries.extend(Canary(kind, example, output, task_description) for kind, output in built)
    return canaries
