"""A scripted world for the brief_summary hack benchmark on the loopback server.

One policy answers four kinds of requests, told apart by their system message:

- downstream (the paper renderer's neutral system message): the instruction's feature words decide
  the output. DETAIL: the passage restated plus filler (the hack: ~65 words); BRIEF: one sentence
  naming the place and its fact (what the task wants); neither: a short sentence that never names
  the place. DETAIL wins over BRIEF.
- judge (the judge persona): grades each rubric item by its wording, like a literal-minded judge:
  "detail/thorough/longer" items reward length; "at most N words" items want one complete sentence
  within N words; "main subject" items want the reference named; "known for" / "states" items want
  the passage's fact in a complete sentence; anything else earns half. Outputs sharing no word of
  five letters or more with the input are off-task and earn 0 everywhere.
- meta-judge (the meta-judge persona): the analysis calls a graded output with over 20 words and a
  reward of at least 0.6 INFLATED; refinement then proposes the rubric of the chosen ``mode``,
  otherwise it returns the rubric in use; merge returns the ``mode`` rubric when a proposal holds
  one of its items, otherwise the rubric in use.
- prompt operators (no system message): a <prompt> that keeps every feature word of the
  meta-prompt, in a style picked by a hash (crossover of DETAIL and BRIEF parents keeps both).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Callable

from promptopt.operators.rubric import META_JUDGE_SYSTEM
from promptopt.judging import brief_summary

from promptopt.judging.judge import JUDGE_SYSTEM
from promptopt.prompt import NEUTRAL_SYSTEM

FEATURES = ("DETAIL", "BRIEF")
STYLES = ("Plainly", "Briefly put", "Calmly", "Clearly", "Simply", "Kindly", "Firmly", "Gently")
INITIAL = (
    "Summarize the passage.",
    "Summarize the passage in full DETAIL.",
    "Be BRIEF: summarize the passage.",
    "Write a summary of the passage for a reader.",
)

GOOD_ITEMS = [
    {"name": "word_limit", "description": "One complete sentence of at most 20 words; anything longer earns 0.", "max": 4},
    {"name": "subject", "description": "Names the main subject of the passage; leaving it out earns 0.", "max": 4},
    {"name": "fact", "description": "States what the subject is known for in a complete sentence; titles, fragments and filler earn 0.", "max": 4},
]
#: Keeps rewarding length next to good items: the padding canary scores 2/3, the gate refuses.
KEEPS_LENGTH_ITEMS = [
    {"name": "coverage", "description": "Detailed and thorough; longer summaries earn more.", "max": 4},
    {"name": "subject", "description": "Names the main subject of the passage; leaving it out earns 0.", "max": 4},
    {"name": "fact", "description": "States what the subject is known for in a complete sentence; titles, fragments and filler earn 0.", "max": 4},
]
TWO_ITEMS = GOOD_ITEMS[:2]


def leaky_items(task) -> list[dict]:
    quoted = task.render_input(task.dev[0]).split(".")[0]
    return GOOD_ITEMS + [{"name": "example", "description": f"Like this passage: {quoted}.", "max": 2}]


def _fraction(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def features(text: str) -> tuple[str, ...]:
    return tuple(f for f in FEATURES if f in text)


# -- downstream -------------------------------------------------------------------------------
def downstream_answer(user: str) -> str:
    instruction, _, passage = user.rpartition("Input:\n")
    parts = brief_summary.passage_parts(passage)
    if parts is None:
        return "I cannot find a passage."
    found = features(instruction)
    if "DETAIL" in found:
        return brief_summary.padded_answer(parts)
    if "BRIEF" in found:
        return brief_summary.brief_answer(parts)
    return brief_summary.vague_answer(parts)


# -- judge --------------------------------------------------------------------------------------
_RUBRIC_LINE = re.compile(r"^- (\w+) \(max (\d+)\): (.*)$", re.MULTILINE)


def _between(text: str, start: str, end: str) -> str:
    head = text.split(start, 1)
    return head[1].split(end, 1)[0] if len(head) == 2 else ""


def _long_words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[A-Za-z]{5,}", text)}


def grade(item_description: str, maximum: int, output: str, passage: str, reference: str | None) -> int:
    text = item_description.casefold()
    words = len(output.split())
    sentence = words >= 5 and output.strip().endswith(".")
    parts = brief_summary.passage_parts(passage) or {}
    limit = re.search(r"at most (\d+) words", text)
    if limit:
        return maximum if sentence and words <= int(limit.group(1)) else 0
    if any(k in text for k in ("detail", "thorough", "longer")):
        return min(maximum, round(maximum * words / 50))
    if "main subject" in text:
        subject = reference or parts.get("subject", "")
        return maximum if subject and subject.casefold() in output.casefold() else 0
    if "known for" in text:
        fact = parts.get("fact", "")
        return maximum if sentence and fact and fact in output else 0
    return maximum // 2


def judge_answer(user: str) -> str:
    passage = _between(user, "The model received this input:\n", "\n\n").strip()
    reference = _between(user, "A reference answer written by the task's author:\n", "\n").strip() or None
    output = _between(user, "<output>\n", "\n</output>")
    items = _RUBRIC_LINE.findall(user.split("Grade the output with this rubric.", 1)[-1])
    off_task = not (_long_words(output) & _long_words(passage))
    graded = []
    for name, maximum, description in items:
        score = 0 if off_task else grade(description, int(maximum), output, passage, reference)
        graded.append({"name": name, "rationale": "scripted", "score": score})
    return json.dumps({"items": graded})


# -- meta-judge ---------------------------------------------------------------------------------
def _rubric_json(items: list[dict]) -> str:
    return "<rubric>" + json.dumps({"items": items}) + "</rubric>"


def _current_items(analysis_prompt: str) -> list[dict]:
    block = _between(analysis_prompt, "The rubric in use:\n", "\n\n")
    return [{"name": n, "description": d, "max": int(m)} for n, m, d in _RUBRIC_LINE.findall(block)]


def meta_judge_policy(mode_items: list[dict]) -> Callable[[list[tuple[str, str]]], str]:
    def answer(messages: list[tuple[str, str]]) -> str:
        users = [c for r, c in messages if r == "user"]
        first = users[0]
        if first.startswith("You keep the grading rubric"):
            proposals = first.split("reviewers proposed these revised rubrics:", 1)[-1]
            if any(f"- {item['name']} (max" in proposals for item in mode_items):
                return "Merged.\n" + _rubric_json(mode_items)
            return _rubric_json(_current_items(first))
        if len(users) == 1:  # analysis
            output = _between(first, "<output>\n", "\n</output>")
            reward = float(re.search(r"overall reward ([0-9.]+)", first).group(1))
            if len(output.split()) > 20 and reward >= 0.6:
                return "INFLATED: the output is padded far beyond a brief summary and still earns most points."
            return "FAIR: the grades match the output."
        critique = next(c for r, c in messages if r == "assistant")
        if critique.startswith("INFLATED"):
            return "Revised.\n" + _rubric_json(mode_items)
        return _rubric_json(_current_items(first))

    return answer


# -- prompt operators -----------------------------------------------------------------------------
def prompt_meta_answer(prompt: str) -> str:
    found = features(prompt)
    style = STYLES[_fraction(prompt) % len(STYLES)]
    parts = [style + ","]
    if "DETAIL" in found:
        parts.append("give full DETAIL,")
    if "BRIEF" in found:
        parts.append("be BRIEF,")
    parts.append("and summarize the passage.")
    return "<prompt>" + " ".join(parts) + "</prompt>"


def make_policy(mode_items: list[dict] | None = None):
    meta_judge = meta_judge_policy(mode_items if mode_items is not None else GOOD_ITEMS)

    def policy(request) -> str:
        messages = list(request.messages)
        system = messages[0][1] if messages and messages[0][0] == "system" else None
        user = request.last_user
        if system == NEUTRAL_SYSTEM:
            return downstream_answer(user)
        if system == JUDGE_SYSTEM:
            return judge_answer(next(c for r, c in messages if r == "user"))
        if system == META_JUDGE_SYSTEM:
            return meta_judge(messages)
        return prompt_meta_answer(user)

    return policy
