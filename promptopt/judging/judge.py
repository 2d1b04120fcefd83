"""The rubric judge: one structured call per (output, rubric), per-item rationale and integer score.

The reward of an output is the mean over items of score/max, in [0, 1] (a raw sum would change
scale whenever the meta-judge adds an item). Scores outside [0, max] are clipped and flagged. A
judge answer that does not parse (no JSON, a missing item, a score that is not a number) is
retried once in the same conversation with the reason; if it still fails the verdict is an error
record (reward 0, ``error`` set) that evaluation counts in ``errors``: never a silent 0.

Deterministic guards (:mod:`promptopt.judging.guards`) run first; a tripped guard is a verdict
with ``guard`` set and no judge call. The judge implements the task ``Judge`` hook, so any
optimizer evaluating a task that carries it is judge-scored.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Callable, Mapping, Sequence

from pydantic import Field

from promptopt import jsonio, records
from promptopt.judging.guards import GuardConfig, check_output
from promptopt.judging.rubric import Rubric
from promptopt.llm.client import LLMClient
from promptopt.llm.records import ChatResponse, Message, Sampling
from promptopt.tasks.records import Example

__all__ = [
    "JUDGE_SYSTEM",
    "JUDGE_TEMPLATE",
    "ItemScore",
    "RubricJudge",
    "Verdict",
    "judge_request_text",
    "parse_judgement",
    "scored_items",
]

#: The judge's persona. The meta-judge uses another one (see operators/rubric.py): a judge that
#: rewrites its own rubric shares its own blind spots.
JUDGE_SYSTEM = (
    "You are a careful, strict grader. You apply the rubric you are given item by item, you give "
    "no credit that the output has not earned, and you answer only in the JSON format requested."
)

#: Our judge prompt. Placeholders (filled by plain replacement, the JSON braces stay literal):
#: ``<<task>>``, ``<<rubric>>``, ``<<input>>``, ``<<reference>>`` (empty or a reference block),
#: ``<<output>>``, ``<<names>>``.
JUDGE_TEMPLATE = """\
A model was given this task:
<<task>>

The model received this input:
<<input>>
<<reference>>
The model produced this output:
<output>
<<output>>
</output>

Grade the output with this rubric. Each line is an item: its name, its maximum score, and what \
earns the score.
<<rubric>>

For every item give a whole-number score from 0 to the item's maximum, then a rationale of at \
most 20 words. Items: <<names>>. Reply with JSON only, in this shape:
{"items": [{"name": "<item name>", "score": <whole number>, "rationale": "<at most 20 words>"}]}"""

#: Completion tokens an item's entry needs: name, score and a rationale of at most 20 words.
TOKENS_PER_ITEM = 48

_REFERENCE_BLOCK = "\nA reference answer written by the task's author:\n<<reference>>\n"

_RETRY = (
    "Your answer could not be used: {why}. Reply again with JSON only, one entry per rubric item "
    "({names}), each with a whole-number score."
)


@dataclass(frozen=True)
class ItemScore(records.Record):
    """One item's grade; ``clipped`` when the judge's number lay outside [0, max]."""

    name: str
    score: int
    max_score: Annotated[int, Field(alias="max")]
    rationale: str = ""
    clipped: bool = False


@dataclass(frozen=True)
class Verdict(records.Record):
    """The judgement of one output under one rubric version.

    ``reward`` is in [0, 1]. A guard trip (``guard``) or a judge failure (``error``) has reward 0
    and says so; callers count errors separately rather than mistaking them for a low score.
    """

    reward: records.Rounded
    rubric_version: int
    items: tuple[ItemScore, ...] = ()
    guard: str | None = None
    error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and abs(value) < 1e9:
        return round(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*\d+)?\s*", value)
        if match:
            return round(float(match.group(1)))
    return None


def _json_object(text: str) -> Any:
    """The first JSON object in ``text``; what follows it is ignored.

    Real judges add chatter after the object, or close it twice (Qwen2.5-0.5B wrote
    ``{"items": [...]}}``): decoding stops at the end of the first complete value.
    """
    start = text.find("{")
    if start == -1:
        raise ValueError("no JSON object in the answer")
    try:
        value, _ = jsonio.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the JSON does not parse ({exc.msg})") from None
    return value


_TRUNCATED_ENTRY = re.compile(r'"(name|score|rationale)"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)')


def _salvaged_entries(text: str) -> list[dict[str, Any]]:
    """The complete ``name``/``score`` fields of an items answer cut off at ``max_tokens``.

    The judge is asked for the score before the rationale, so when a small model's rationale
    runs on (Qwen2.5-0.5B repeats a phrase until the cap) every score already written is
    still readable. An entry starts at each ``name``; a cut-off last field is never read.
    """
    entries: list[dict[str, Any]] = []
    for match in _TRUNCATED_ENTRY.finditer(text[text.find("{"):]):
        key, raw = match.group(1), match.group(2)
        value: Any = json.loads(raw) if raw.startswith('"') else float(raw)
        if key == "name" or not entries or key in entries[-1]:
            entries.append({})
        entries[-1][key] = value
    return [e for e in entries if "score" in e]


def scored_items(text: str, rubric: Rubric, *, truncated: bool = False) -> tuple[dict[str, ItemScore], dict[str, str]]:
    """The items a judge answer scores, which may be fewer than the rubric's, and why each of the
    others has no usable score. ValueError when the answer has no usable shape at all.

    Accepted shapes: ``{"items": [{"name", "score", "rationale"}, ...]}`` (entries matched by
    name, or by position when the count is right and the names are missing or none of them is a
    rubric item's: small judges put the passage's subject in ``name``) and
    ``{"<item name>": <score>, ...}``. An items answer that does not parse (cut off at
    ``max_tokens``: ``truncated``, or closed with stray brackets) is read field by field
    (:func:`_salvaged_entries`). Scores are clipped to [0, max].
    """
    try:
        data = _json_object(text)
    except ValueError:
        if '"items"' not in text:
            raise
        # cut off at max_tokens, or closed wrongly ('}]]}': Qwen2.5-Coder-0.5B, 1 answer in 8)
        data = {"items": _salvaged_entries(text)}
        if not data["items"]:
            if truncated:
                raise ValueError("the answer was cut off at max_tokens before any score") from None
            raise
    found: dict[str, tuple[Any, str]] = {}
    if isinstance(data, Mapping) and isinstance(data.get("items"), list):
        entries = [e for e in data["items"] if isinstance(e, Mapping)]
        names = set(rubric.names)
        named = all(isinstance(e.get("name"), str) for e in entries) and any(
            str(e["name"]).strip() in names for e in entries
        )
        for position, entry in enumerate(entries):
            if named:
                key = str(entry["name"]).strip()
            elif len(entries) == len(rubric.items):
                key = rubric.items[position].name
            else:
                continue
            found[key] = (entry.get("score"), str(entry.get("rationale", "")).strip())
    elif isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, Mapping):
                found[str(key)] = (value.get("score"), str(value.get("rationale", "")).strip())
            else:
                found[str(key)] = (value, "")
    else:
        raise ValueError("the answer is not a JSON object")
    scores: dict[str, ItemScore] = {}
    missing: dict[str, str] = {}
    for item in rubric.items:
        if item.name not in found:
            missing[item.name] = f"no score for item '{item.name}'"
            continue
        raw, rationale = found[item.name]
        value = _as_int(raw)
        if value is None:
            missing[item.name] = f"the score of item '{item.name}' is not a number: {raw!r}"
            continue
        clipped = min(max(value, 0), item.max_score)
        scores[item.name] = ItemScore(item.name, clipped, item.max_score, rationale[:500], clipped != value)
    return scores, missing


def parse_judgement(text: str, rubric: Rubric, *, truncated: bool = False) -> tuple[ItemScore, ...]:
    """Per-item scores from a judge answer that scores every item (see :func:`scored_items` for
    the shapes read); ValueError says what is wrong."""
    scores, missing = scored_items(text, rubric, truncated=truncated)
    if missing:
        raise ValueError(next(iter(missing.values())))
    return tuple(scores[name] for name in rubric.names)


def reward_of(items: Sequence[ItemScore]) -> float:
    """Mean of score/max over items, in [0, 1]."""
    return sum(i.score / i.max_score for i in items) / len(items) if items else 0.0


def judge_request_text(
    task_description: str, rubric: Rubric, input_text: str, output: str, reference: str | None = None
) -> str:
    """The judge's user message for one output (see :data:`JUDGE_TEMPLATE`)."""
    reference_block = _REFERENCE_BLOCK.replace("<<reference>>", reference.strip()) if reference else ""
    values = {
        "<<task>>": task_description.strip(),
        "<<input>>": input_text.strip(),
        "<<reference>>": reference_block,
        "<<output>>": output.strip(),
        "<<rubric>>": rubric.render(),
        "<<names>>": ", ".join(rubric.names),
    }
    # one pass, so a placeholder-like string inside the output is never expanded
    return re.sub("|".join(re.escape(k) for k in values), lambda m: values[m.group(0)], JUDGE_TEMPLATE)


def _key(rubric: Rubric, uid: str, output: str, prompt_text: str) -> str:
    # the items' fingerprint, not only the version: two rejected candidates may share a version
    blob = json.dumps([rubric.version, rubric.fingerprint, uid, output, prompt_text], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RubricJudge:
    """Judges outputs of one task with one rubric version through an LLM client (role "judge").

    Immutable: :meth:`with_rubric` gives the judge for another version. ``memo`` (shared by all
    versions) keeps every verdict by (version, example, output), so the optimizer can read the
    rationales of the outputs it evaluated without asking again.
    """

    client: LLMClient
    rubric: Rubric
    task_description: str
    render_input: Callable[[Example], str]
    guards: GuardConfig = GuardConfig()
    use_references: bool = False
    sampling: Sampling = Sampling(temperature=0.0, max_tokens=384)
    persona: str = JUDGE_SYSTEM
    memo: dict[str, Verdict] = field(default_factory=dict, compare=False, repr=False)

    def with_rubric(self, rubric: Rubric) -> RubricJudge:
        return replace(self, rubric=rubric, memo=self.memo)

    def with_client(self, client: LLMClient, *, persona: str | None = None) -> RubricJudge:
        """The same judge through another model (a held-out evaluator), with its own memo."""
        return replace(self, client=client, persona=persona or self.persona, memo={})

    @property
    def version(self) -> int:
        return self.rubric.version

    def lookup(self, example: Example, output: str, prompt_text: str = "") -> Verdict | None:
        return self.memo.get(_key(self.rubric, example.uid, output, prompt_text))

    @property
    def request_sampling(self) -> Sampling:
        """The judge's sampling with room for every item: ``max_tokens`` is raised to
        :data:`TOKENS_PER_ITEM` per rubric item when it is smaller (a rubric that grows from two
        to six items otherwise gets answers cut off before the last scores)."""
        floor = TOKENS_PER_ITEM * len(self.rubric.items) + 16
        return self.sampling if self.sampling.max_tokens >= floor else replace(self.sampling, max_tokens=floor)

    def _messages(self, example: Example, output: str, rubric: Rubric | None = None) -> list[Message]:
        reference = example.target if self.use_references and example.target else None
        text = judge_request_text(
            self.task_description, rubric or self.rubric, self.render_input(example), output, reference
        )
        return [Message("system", self.persona), Message("user", text)]

    async def verdicts(
        self,
        outputs: Sequence[str],
        examples: Sequence[Example],
        *,
        prompt_texts: Sequence[str] | str = "",
    ) -> list[Verdict]:
        """One verdict per output, in order: guards first, then one judge batch, one retry batch."""
        if len(outputs) != len(examples):
            raise ValueError(f"judge: {len(outputs)} outputs for {len(examples)} examples")
        prompts = [prompt_texts] * len(outputs) if isinstance(prompt_texts, str) else list(prompt_texts)
        results: list[Verdict | None] = [None] * len(outputs)
        pending: list[int] = []
        for i, (output, example) in enumerate(zip(outputs, examples)):
            memoized = self.lookup(example, output, prompts[i])
            if memoized is not None:
                results[i] = memoized
                continue
            tripped = check_output(
                output, input_text=self.render_input(example), prompt_text=prompts[i], config=self.guards
            )
            if tripped is not None:
                results[i] = Verdict(0.0, self.version, guard=tripped)
            else:
                pending.append(i)
        conversations = {i: self._messages(examples[i], outputs[i]) for i in pending}
        sampling = self.request_sampling
        first = await self.client.complete([sampling.request(conversations[i]) for i in pending])
        # per output still to judge: why the first answer failed, what it scored, what to ask again
        retries: list[tuple[int, str, dict[str, ItemScore], list[tuple[list[Message], Rubric]]]] = []
        for i, response in zip(pending, first):
            scored, why = self._read(response, self.rubric)
            if not why:
                results[i] = self._verdict(scored, attempts=1)
            elif not response.ok:  # the request failed, not the judge: send it once more
                retries.append((i, why, {}, [(conversations[i], self.rubric)]))
            elif len(self.rubric.items) == 1:  # the same question again, told what was wrong
                again = conversations[i] + [
                    Message("assistant", response.text),
                    Message("user", _RETRY.format(why=why, names=", ".join(self.rubric.names))),
                ]
                retries.append((i, why, scored, [(again, self.rubric)]))
            else:  # item by item: a small judge that skipped items answers a single one reliably
                alone = [replace(self.rubric, items=(item,)) for item in self.rubric.items if item.name not in scored]
                retries.append((i, why, scored, [(self._messages(examples[i], outputs[i], r), r) for r in alone]))
        if retries:
            asked = [conversation for *_, questions in retries for conversation, _ in questions]
            answers = iter(await self.client.complete([sampling.request(c) for c in asked]))
            for i, first_why, scored, questions in retries:
                known, whys = dict(scored), []
                for _, rubric in questions:
                    more, why = self._read(next(answers), rubric)
                    known.update(more)
                    whys += [why] if why else []
                results[i] = self._verdict(known, attempts=2) if not whys else Verdict(
                    0.0,
                    self.version,
                    error=f"judge answer unusable after 2 attempts: {first_why}; then {whys[0]}",
                    attempts=2,
                )
        final = [v for v in results if v is not None]
        assert len(final) == len(outputs)
        for i, verdict in enumerate(final):
            if verdict.ok:  # errors are not memoized: a later call may succeed
                self.memo[_key(self.rubric, examples[i].uid, outputs[i], prompts[i])] = verdict
        return final

    @staticmethod
    def _read(response: ChatResponse, rubric: Rubric) -> tuple[dict[str, ItemScore], str]:
        """The items of ``rubric`` this answer scores, and why it is not a whole verdict ("" when it is)."""
        if not response.ok:
            return {}, f"judge request failed ({response.error_kind}): {response.error}"
        try:
            scored, missing = scored_items(response.text, rubric, truncated=response.finish_reason == "length")
        except ValueError as exc:
            return {}, str(exc)
        return scored, next(iter(missing.values()), "")

    def _verdict(self, scored: Mapping[str, ItemScore], *, attempts: int) -> Verdict:
        items = tuple(scored[name] for name in self.rubric.names)
        return Verdict(reward_of(items), self.version, items, attempts=attempts)

    async def score(self, outputs: Sequence[str], examples: Sequence[Example]) -> list[float]:
        """The task ``Judge`` hook: rewards only (see :meth:`verdicts` for the records)."""
        return [v.reward for v in await self.verdicts(outputs, examples)]
