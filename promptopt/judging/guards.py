"""Cheap deterministic guards in front of the judge.

Some degenerate outputs need no LLM to recognize: an empty answer, a copy of the prompt or of the
input, an answer far outside the task's length bounds, an answer in the wrong language. They score
0 with the guard's name as the reason, without a judge call: the judge cannot be talked into
rewarding them, and they cost nothing. The bounds are sanity limits the task declares, not the
task's real requirement (that is the rubric's job).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

from promptopt import records

__all__ = ["LANGUAGES", "GuardConfig", "check_output", "detect_language", "word_count"]

#: Frequent function words per language: enough to tell these languages apart in a sentence.
_STOPWORDS: Mapping[str, frozenset[str]] = {
    "en": frozenset(
        "the a an and or of to in on is are was were it this that with for as by be has have from at "
        "not but its their which who".split()
    ),
    "de": frozenset(
        "der die das und oder ist sind war ein eine einen nicht mit für auf von zu im den dem des "
        "sich auch es ich sie wir über".split()
    ),
    "fr": frozenset(
        "le la les et ou est sont était un une des du de pas avec pour sur dans en il elle nous "
        "que qui ce cette au aux".split()
    ),
    "es": frozenset(
        "el la los las y o es son era un una unos del de no con para por en que se su sus al lo "
        "como este esta".split()
    ),
}
LANGUAGES: tuple[str, ...] = tuple(_STOPWORDS)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def word_count(text: str) -> int:
    return len(text.split())


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin / len(letters)


def detect_language(text: str) -> str | None:
    """The most likely of :data:`LANGUAGES`, "non-latin", or None when the text is too short."""
    if _latin_share(text) < 0.5:
        return "non-latin"
    words = [w.casefold() for w in _WORD.findall(text)]
    if len(words) < 5:
        return None
    hits = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(hits, key=lambda lang: (hits[lang], lang == "en"))
    return best if hits[best] >= 2 else None


@dataclass(frozen=True)
class GuardConfig(records.Record):
    """What the task declares: word bounds and language (None: not checked)."""

    min_words: int = 1
    max_words: int | None = None
    language: str | None = None
    #: Similarity (difflib ratio of normalized texts) from which an output is a copy.
    echo_ratio: records.Number = 0.9

    def __post_init__(self) -> None:
        if self.min_words < 0 or (self.max_words is not None and self.max_words < max(1, self.min_words)):
            raise ValueError(f"guard word bounds are inconsistent: min {self.min_words}, max {self.max_words}")
        if self.language is not None and self.language not in LANGUAGES:
            raise ValueError(f"guard language must be one of {', '.join(LANGUAGES)}, got {self.language!r}")


def _copies(output: str, source: str, ratio: float) -> bool:
    out, src = _norm(output), _norm(source)
    if not out or not src:
        return False
    if out == src or (len(src.split()) >= 8 and src in out):
        return True
    matcher = difflib.SequenceMatcher(None, out, src, autojunk=False)
    return matcher.real_quick_ratio() >= ratio and matcher.quick_ratio() >= ratio and matcher.ratio() >= ratio


def check_output(
    output: str, *, input_text: str = "", prompt_text: str = "", config: GuardConfig = GuardConfig()
) -> str | None:
    """The name of the first guard ``output`` trips ("empty", "echo_input", ...), or None."""
    if not output.strip():
        return "empty"
    if prompt_text and _copies(output, prompt_text, config.echo_ratio):
        return "echo_prompt"
    if input_text and _copies(output, input_text, config.echo_ratio):
        return "echo_input"
    words = word_count(output)
    if words < config.min_words:
        return "too_short"
    if config.max_words is not None and words > config.max_words:
        return "too_long"
    if config.language is not None:
        found = detect_language(output)
        if found is not None and found != config.language:
            return "wrong_language"
    return None
