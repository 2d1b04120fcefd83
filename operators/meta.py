"""Ask the meta-LLM for texts, validate what comes back, retry once, then fall back.

Every operator that writes instructions (initialization, crossover, mutation) goes through
:func:`meta_generate`, so the rule "never let chatter become an instruction" lives in one place:
only the content of an answer tag is ever used, and it is rejected when it is empty, cut off,
merely an echo of the meta-prompt, or fails the run's :class:`ProposalRules` (a parent's copy, a
leaked dataset example, out of length bounds, a known instruction).
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass
from typing import Callable, Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.records import ChatRequest, ChatResponse, Message, Sampling
from promptopt.operators.proposals import (
    REASONS,
    ProposalGuard,
    ProposalRules,
    check_proposal,
    normalize,
)
from promptopt.prompt import Prompt

__all__ = [
    "ECHO_RATIO",
    "AnswerShape",
    "MetaResult",
    "Offspring",
    "extract_tagged",
    "is_echo",
    "meta_generate",
    "retry_text",
    "template_sentences",
]

#: Similarity (difflib ratio, after normalization) from which an output counts as a copy of the
#: meta-prompt.
ECHO_RATIO = 0.9

#: Scaffolding sentences shorter than this (in words) are ignored: short phrases such as
#: "Instruction A:" can legitimately appear in an answer.
_MIN_SENTENCE_WORDS = 5

_ANY_TAG = re.compile(r"<\s*/?\s*[A-Za-z_][\w.\-]*\s*>")


def _tag_patterns(tag: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    name = re.escape(tag)
    return (
        re.compile(rf"<\s*{name}\s*>", re.IGNORECASE),
        re.compile(rf"<\s*/\s*{name}\s*>", re.IGNORECASE),
    )


def _tagged_spans(text: str, tag: str) -> list[str]:
    """Raw contents of every complete ``<tag>…</tag>`` pair, in order.

    A pair is an opening tag and the first closing tag after it; an opening tag that is followed
    by another opening tag before any closing one is skipped (the inner one pairs instead).
    """
    opening, closing = _tag_patterns(tag)
    spans: list[str] = []
    pos = 0
    while (start := opening.search(text, pos)) is not None:
        end = closing.search(text, start.end())
        if end is None:
            break  # truncated output: an unclosed tag is not an answer
        inner = opening.search(text, start.end(), end.start())
        if inner is not None:
            pos = inner.start()
            continue
        spans.append(text[start.end() : end.start()])
        pos = end.end()
    return spans


def extract_tagged(text: str, tag: str = "prompt") -> str | None:
    """Content of the last complete ``<tag>…</tag>`` pair, stripped; None if absent or empty.

    The last pair wins because models often restate the format ("answer as <prompt>…</prompt>")
    before giving the answer. Tag names match case-insensitively. An unclosed tag (an output cut
    off by ``max_tokens``) is not an answer: a truncated instruction must not enter the population.
    """
    spans = _tagged_spans(text, tag)
    if not spans:
        return None
    content = spans[-1].strip()
    return content or None


def template_sentences(template: str) -> tuple[str, ...]:
    """The fixed sentences of a ``str.format`` template (placeholders removed).

    These are the meta-prompt's own scaffolding: an answer that contains one of them verbatim is
    repeating the request rather than answering it (see :func:`is_echo`).
    """
    sentences: list[str] = []
    for literal, _field, _spec, _conv in string.Formatter().parse(template):
        for piece in re.split(r"(?<=[.!?:])\s+|\n+", literal):
            sentence = piece.strip().rstrip(".!?:").strip()
            if len(sentence.split()) >= _MIN_SENTENCE_WORDS:
                sentences.append(sentence)
    return tuple(dict.fromkeys(sentences))


def is_echo(
    candidate: str, meta_prompt: str, *, scaffolding: Sequence[str] = (), tag: str = "prompt"
) -> bool:
    """True when ``candidate`` just repeats the meta-prompt or its scaffolding.

    The rule, on texts normalized by casefolding and collapsing whitespace (an empty candidate is
    never an echo; emptiness is rejected separately):

    1. the candidate is at least :data:`ECHO_RATIO` similar to the whole meta-prompt
       (``difflib.SequenceMatcher.ratio``), or
    2. the candidate equals the content of a ``<tag>…</tag>`` pair inside the meta-prompt (the
       model repeated the format line, e.g. "between <prompt> and </prompt>" yields "and"), or
    3. the candidate contains, verbatim, a scaffolding clause of at least five words that occurs
       in the meta-prompt, or is itself (five words or more) a verbatim piece of one. Scaffolding
       sentences are the given ``scaffolding`` (operators pass their template's fixed sentences,
       see :func:`template_sentences`) plus every meta-prompt sentence that mentions ``<tag>``
       (only format directives do), each split into clauses at commas, semicolons and tag
       markup. Texts embedded in the meta-prompt (a parent instruction, the task description)
       are not scaffolding, so repeating them is allowed.
    """
    cand = normalize(candidate)
    if not cand:
        return False
    meta = normalize(meta_prompt)
    matcher = difflib.SequenceMatcher(None, cand, meta, autojunk=False)
    if matcher.real_quick_ratio() >= ECHO_RATIO and matcher.quick_ratio() >= ECHO_RATIO:
        if matcher.ratio() >= ECHO_RATIO:
            return True
    if any(normalize(span) == cand for span in _tagged_spans(meta_prompt, tag)):
        return True
    core = cand.strip(" .!?:,;")
    opening, closing = _tag_patterns(tag)
    mentions_tag = [
        s
        for s in re.split(r"(?<=[.!?])\s+|\n+", meta_prompt)
        if opening.search(s) or closing.search(s)
    ]
    for sentence in (*scaffolding, *mentions_tag):
        # Split at tag markup (an extracted answer never contains its own tags) and at clause
        # breaks (an echo often stops mid-sentence).
        for fragment in re.split(r"[,;]", _ANY_TAG.sub(";", sentence)):
            key = normalize(fragment).strip(" .!?:,;")
            if len(key.split()) < _MIN_SENTENCE_WORDS or key not in meta:
                continue
            if key in cand or (len(core.split()) >= _MIN_SENTENCE_WORDS and core in key):
                return True
    return False


@dataclass(frozen=True)
class MetaResult:
    """The text an operator will use, and how it was obtained.

    ``ok`` is True when a generated text passed validation; otherwise the fallback was used
    (``fell_back``). ``raw`` holds every raw output in attempt order ("" for a failed request),
    ``rejections`` why each rejected attempt was rejected (in words) and ``reasons`` the same as
    codes of :data:`~promptopt.operators.proposals.REASONS`, for the journal and the summary.
    ``attempts`` is 0 when the meta-prompt was not sent (its answers were rejected before).
    """

    text: str
    ok: bool
    attempts: int
    fell_back: bool
    raw: tuple[str, ...]
    rejections: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Offspring:
    """A new prompt and the meta-LLM result its instruction came from (for the journal)."""

    prompt: Prompt
    meta: MetaResult


@dataclass(frozen=True)
class AnswerShape:
    """What an operator knows about its own meta-prompt's answers beyond tags and echoes.

    ``clean`` removes the operator's own labels that a model copied around an answer (OPRO's
    "Instruction:" and "Score: 80" lines); ``request_phrases`` (normalized) mark an answer that
    restates the request in other words ("a new instruction that will score higher than the
    instructions above") rather than answering it: such an answer is an echo.
    """

    clean: Callable[[str], str] | None = None
    request_phrases: tuple[str, ...] = ()


def _validate(
    response: ChatResponse,
    meta_prompt: str,
    tag: str,
    scaffolding: Sequence[str],
    parents: Sequence[str],
    rules: ProposalRules,
    shape: AnswerShape,
) -> tuple[str | None, str, str]:
    """(accepted text, "", "") or (None, reason code, why in words)."""
    if not response.ok:
        return None, "failed", f"request failed: {response.error}"
    text = extract_tagged(response.text, tag)
    if text is not None and shape.clean is not None:
        text = shape.clean(text) or None
    if text is None:
        if response.finish_reason == "length":
            return None, "truncated", f"{REASONS['truncated']} (no complete <{tag}> answer)"
        return None, "untagged", f"no non-empty <{tag}> answer"
    if is_echo(text, meta_prompt, scaffolding=scaffolding, tag=tag):
        return None, "echo", "echo of the meta-prompt"
    if any(phrase in normalize(text) for phrase in shape.request_phrases):
        return None, "echo", "restates the meta-prompt's request"
    code = check_proposal(text, parents, rules)
    if code is not None:
        return None, code, REASONS[code]
    return text, "", ""


#: What the retry of a rejected answer adds after the meta-prompt, by reason code: the model is
#: told what was wrong. Qwen2.5-Coder-0.5B worked through EvoPrompt-DE's four steps until the
#: token cap, and often answered OPRO without tags; asked the same prompt again, it did the same.
RETRY_NOTES = {
    "truncated": "Your last answer was cut off before the closing </{tag}> tag. This time skip the working "
                 "and write only the new instruction, between <{tag}> and </{tag}>.",
    "untagged": "Your last answer had no instruction between <{tag}> and </{tag}>. This time write only the new "
                "instruction, between <{tag}> and </{tag}>.",
    "echo": "Your last answer repeated the request instead of answering it. Write the new instruction itself, "
            "between <{tag}> and </{tag}>.",
    "parent_copy": "Your last answer copied an instruction shown above. Write a different one, between <{tag}> "
                   "and </{tag}>.",
    "duplicate": "Your last answer repeated an instruction that was already tried. Write a different one, "
                 "between <{tag}> and </{tag}>.",
    "leaked_example": "Your last answer copied a task example. Write an instruction without any example text, "
                      "between <{tag}> and </{tag}>.",
    "too_short": "Your last answer was too short to be an instruction. Write a complete instruction, between "
                 "<{tag}> and </{tag}>.",
    "too_long": "Your last answer was too long. Write a shorter instruction, between <{tag}> and </{tag}>.",
}


def retry_text(meta_prompt: str, reason: str, tag: str = "prompt") -> str:
    """The meta-prompt of a retry after a rejection for ``reason`` (unchanged after a failed request)."""
    note = RETRY_NOTES.get(reason)
    return meta_prompt if note is None else f"{meta_prompt}\n\n{note.format(tag=tag)}"


async def meta_generate(
    meta: LLMClient,
    meta_prompts: Sequence[str],
    fallbacks: Sequence[str],
    *,
    sampling: Sampling,
    tag: str = "prompt",
    scaffolding: Sequence[str] = (),
    sample_indices: Sequence[int] | None = None,
    parents: Sequence[Sequence[str]] | None = None,
    guard: ProposalGuard | None = None,
    shape: AnswerShape = AnswerShape(),
) -> list[MetaResult]:
    """One validated text per meta-prompt, in order.

    All meta-prompts go out in one batch (each as a single user message). Outputs with no tag, an
    empty or unclosed tag, an echo of the meta-prompt (:func:`is_echo`, with ``scaffolding``), a
    failure of the guard's rules (:func:`~promptopt.operators.proposals.check_proposal`;
    ``parents`` are the texts each proposal must not copy; without a guard, default rules) or an
    error are retried once, together in a second batch, with ``sample_index + 1`` and the meta-prompt
    followed by a note saying what was wrong (:data:`RETRY_NOTES`; a failed request is resent as
    it was): a different cache entry, so the retry can differ from the first answer and is still
    replayable. Still invalid → the fallback text (``fell_back=True``).

    ``sample_indices`` (default all 0) set the first attempt's sample index; callers drawing
    several samples of one meta-prompt should space them by 2 so retries never collide with
    another sample. With a ``guard``, its memory applies: a meta-prompt whose answers were all
    rejected before is asked with fresh sample indices, or not at all once it has failed
    ``max_rounds`` times; every outcome is recorded in it.
    """
    count = len(meta_prompts)
    if len(fallbacks) != count:
        raise ValueError(
            f"meta_generate: {count} meta-prompts but {len(fallbacks)} fallbacks; "
            "pass one fallback per meta-prompt"
        )
    indices = list(sample_indices) if sample_indices is not None else [0] * count
    if len(indices) != count:
        raise ValueError(f"meta_generate: {count} meta-prompts but {len(indices)} sample indices")
    parent_texts = [tuple(p) for p in parents] if parents is not None else [()] * count
    if len(parent_texts) != count:
        raise ValueError(f"meta_generate: {count} meta-prompts but {len(parent_texts)} parent lists")
    if not meta_prompts:
        return []
    rules = guard.rules if guard is not None else ProposalRules()
    memory = guard.memory if guard is not None else None
    if memory is not None:
        indices = [i + memory.sample_offset(p) for p, i in zip(meta_prompts, indices)]
    skipped = {i for i, p in enumerate(meta_prompts) if memory is not None and memory.exhausted(p)}

    def request(text: str, index: int) -> ChatRequest:
        return sampling.request((Message("user", text),), sample_index=index)

    raws: list[list[str]] = [[] for _ in meta_prompts]
    codes: list[list[str]] = [[] for _ in meta_prompts]
    why: list[list[str]] = [[] for _ in meta_prompts]
    accepted: list[str | None] = [None] * count

    async def attempt(which: list[int], offset: int) -> None:
        sent = [retry_text(meta_prompts[i], codes[i][-1], tag) if offset else meta_prompts[i] for i in which]
        responses = await meta.complete([request(text, indices[i] + offset) for text, i in zip(sent, which)])
        for i, text_sent, response in zip(which, sent, responses):
            raws[i].append(response.text if response.ok else "")
            text, code, reason = _validate(
                response, text_sent, tag, scaffolding, parent_texts[i], rules, shape
            )
            accepted[i] = text
            if text is None:
                codes[i].append(code)
                why[i].append(reason)

    await attempt([i for i in range(count) if i not in skipped], 0)
    retry = [i for i, text in enumerate(accepted) if text is None and i not in skipped]
    if retry:
        await attempt(retry, 1)

    results: list[MetaResult] = []
    for i, text in enumerate(accepted):
        ok = text is not None
        if i in skipped:
            codes[i].append("skipped")
            why[i].append(REASONS["skipped"])
        elif memory is not None:
            memory.record(meta_prompts[i], ok)
        results.append(
            MetaResult(
                text=text if text is not None else fallbacks[i],
                ok=ok,
                attempts=len(raws[i]),
                fell_back=not ok,
                raw=tuple(raws[i]),
                rejections=tuple(why[i]),
                reasons=tuple(codes[i]),
            )
        )
    return results
