"""A scripted world for end-to-end optimizer tests on the loopback server.

The task: label short reviews whose text names the answer ("... was great" is positive). The
downstream "model" is right on every example when its instruction carries both features FOCUS and
VERIFY, on about 60% with one of them and about 30% with neither (decided by a hash of the input,
so it is deterministic). The meta "model" answers every meta-prompt with a <prompt> that keeps
every feature word found in the meta-prompt: crossover of a FOCUS parent and a VERIFY parent
yields both, which is the recombination CAPO should find; the baselines find it the same way
(OPRO's trajectory, EvoPrompt's parents and donors carry the features into the meta-prompt).
"""

from __future__ import annotations

import hashlib
import re

from promptopt.prompt import NEUTRAL_SYSTEM
from promptopt.tasks.metrics import Accuracy
from promptopt.tasks.parsers import LabelParser
from promptopt.tasks.records import Example, SourceInfo
from promptopt.tasks.task import Task

FEATURES = ("FOCUS", "VERIFY")
STYLES = ("Plainly", "Briefly", "Calmly", "Clearly", "Simply", "Kindly", "Firmly", "Gently")
INITIAL = (
    "Label the review.",
    "FOCUS on the wording, then label the review.",
    "VERIFY the label before you answer. Label the review.",
    "Be brief and label the review.",
)


def _fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def make_task(n_dev: int = 400, n_test: int = 60) -> Task:
    def example(i: int, split: str) -> Example:
        good = _fraction(f"{split}{i}") < 0.5
        word = "great" if good else "awful"
        return Example({"text": f"{split} review {i}: the meal was {word}"}, "positive" if good else "negative",
                       f"{split}:{i}")

    labels = ("negative", "positive")
    return Task(
        name="scripted_reviews",
        description="Decide whether a short review is negative or positive.",
        input_fields=("text",), target_field="label", parser=LabelParser(labels=labels), metric=Accuracy(),
        dev=tuple(example(i, "dev") for i in range(n_dev)), test=tuple(example(i, "test") for i in range(n_test)),
        source=SourceInfo("builtin", "scripted"), labels=labels,
    )


def _features(text: str) -> tuple[str, ...]:
    return tuple(f for f in FEATURES if f in text)


def downstream_answer(user: str) -> str:
    instruction = user.split("\n\nInput:\n", 1)[0]
    item = user.rsplit("Input:\n", 1)[-1]
    truth = "positive" if "great" in item else "negative"
    wrong = "negative" if truth == "positive" else "positive"
    level = {2: 1.0, 1: 0.6, 0: 0.3}[len(_features(instruction))]
    answer = truth if _fraction(item) < level else wrong
    return f"The review says it. <final_answer>{answer}</final_answer>"


def meta_answer(prompt: str, sample: int = 0) -> str:
    """Samples of one meta-prompt (OPRO draws several) differ in style, not in features."""
    found = _features(prompt)
    key = prompt if not sample else f"{prompt}#{sample}"
    style = STYLES[int(hashlib.sha256(key.encode()).hexdigest()[:4], 16) % len(STYLES)]
    parts = [style + ","]
    if "FOCUS" in found:
        parts.append("FOCUS on the wording,")
    if "VERIFY" in found:
        parts.append("VERIFY the label,")
    parts.append("then label the review.")
    return "Here is the new prompt:\n<prompt>" + " ".join(parts) + "</prompt>"


def policy(request) -> str:
    """Downstream requests carry the paper renderer's neutral system message; meta ones do not."""
    messages = request.messages
    user = messages[-1][1]
    if messages and messages[0][0] == "system" and messages[0][1] == NEUTRAL_SYSTEM:
        return downstream_answer(user)
    # without a sampling seed the request's seed is its sample index (None for the first sample)
    return meta_answer(user, request.seed or 0)


def has_both_features(instruction: str) -> bool:
    return all(f in instruction for f in FEATURES)


CROSSOVER_HINT = re.compile(r"merge|combine", re.IGNORECASE)
