"""The acceptance gate: a candidate rubric replaces the current one only if every check holds.

1. shape: 3-12 items, each with an explicit integer max (guaranteed by parsing), descriptions
   within a length cap;
2. leakage: no item quotes a dev input (six consecutive words) or names a dev reference;
3. canaries: every degenerate output (:mod:`promptopt.judging.canaries`) scores near 0 under the
   candidate's judge (guards included: they are part of the judge setup the optimizer faces);
4. anchor agreement: on graded anchors (reference-graded outputs, or outputs graded by a frozen
   validation judge) the candidate's rank agreement with the grades does not drop below the
   current rubric's.

The cheap checks run first; when one fails, the LLM checks are skipped (and say so). The decision
is a record with every check's value and reason, for the run journal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from pydantic import SerializerFunctionWrapHandler, model_serializer

from promptopt import records
from promptopt.judging.canaries import Canary
from promptopt.judging.judge import RubricJudge
from promptopt.judging.rubric import Rubric
from promptopt.tasks.records import Example

__all__ = [
    "Anchor",
    "GateCheck",
    "GateConfig",
    "GateDecision",
    "check_canaries",
    "check_leakage",
    "check_shape",
    "rank_agreement",
    "run_gate",
]


@dataclass(frozen=True)
class GateConfig(records.Record):
    """Thresholds of the gate (part of a run's config: ``to_dict`` is compared on resume)."""

    min_items: int = 3
    max_items: int = 12
    max_item_chars: int = 300
    max_total_chars: int = 2400
    #: A canary's reward must not exceed this. Additive rubrics give partial credit, so "near 0"
    #: means: a degenerate output satisfies at most about a third of the rubric.
    canary_threshold: records.Number = 0.35
    #: How far the anchor agreement may fall below the current rubric's (0: it must not drop).
    agreement_tolerance: records.Number = 0.0
    leak_words: int = 6


@dataclass(frozen=True)
class Anchor:
    """An output with a trusted grade in [0, 1] (a reference check, a label, a frozen judge)."""

    example: Example
    output: str
    grade: float
    source: str = "reference"


@dataclass(frozen=True)
class GateCheck(records.Record):
    """One check's verdict, as journaled."""

    name: str
    passed: bool
    detail: str
    value: records.Rounded | None = None
    skipped: bool = False


@dataclass(frozen=True)
class GateDecision(records.Record):
    """Accepted only when every check passed; ``reasons`` lists the failed checks' details."""

    candidate_version: int
    checks: tuple[GateCheck, ...]

    @property
    def accepted(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def check(self, name: str) -> GateCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    @model_serializer(mode="wrap")
    def _journaled(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The journal's layout: the outcome and its reasons before the checks."""
        data = handler(self)
        return {"candidate_version": data["candidate_version"], "accepted": self.accepted, "reasons": self.reasons,
                "checks": data["checks"]}


def check_shape(rubric: Rubric, config: GateConfig) -> GateCheck:
    n = len(rubric.items)
    problems = []
    if not config.min_items <= n <= config.max_items:
        problems.append(f"{n} items (allowed {config.min_items}-{config.max_items})")
    long_items = [i.name for i in rubric.items if len(i.description) > config.max_item_chars]
    if long_items:
        problems.append(f"items over {config.max_item_chars} characters: {', '.join(long_items)}")
    if rubric.text_length() > config.max_total_chars:
        problems.append(f"{rubric.text_length()} characters in all (cap {config.max_total_chars})")
    if problems:
        return GateCheck("shape", False, "; ".join(problems), float(n))
    return GateCheck("shape", True, f"{n} items, {rubric.text_length()} characters", float(n))


def _norm_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


def check_leakage(rubric: Rubric, examples: Sequence[Example], inputs: Sequence[str], config: GateConfig) -> GateCheck:
    """No item may quote ``leak_words`` consecutive words of a dev input, nor name a dev reference
    that looks like a name or phrase (a target with a capital letter or a space, 4+ characters)."""
    n = config.leak_words
    shingles: dict[str, int] = {}
    for index, text in enumerate(inputs):
        words = _norm_words(text)
        for start in range(len(words) - n + 1):
            shingles.setdefault(" ".join(words[start : start + n]), index)
    leaks = []
    for item in rubric.items:
        words = _norm_words(item.description)
        for start in range(len(words) - n + 1):
            piece = " ".join(words[start : start + n])
            if piece in shingles:
                leaks.append(f"item '{item.name}' quotes dev input {shingles[piece]}: \"{piece}\"")
                break
        else:
            for example in examples:
                target = example.target.strip()
                if len(target) >= 4 and (target != target.lower() or " " in target):
                    if re.search(rf"(?<!\w){re.escape(target)}(?!\w)", item.description):
                        leaks.append(f"item '{item.name}' names the reference of {example.uid}: \"{target}\"")
                        break
    if leaks:
        return GateCheck("leakage", False, "; ".join(leaks[:3]), float(len(leaks)))
    return GateCheck("leakage", True, f"no item quotes any of {len(inputs)} dev inputs", 0.0)


async def check_canaries(judge: RubricJudge, canaries: Sequence[Canary], config: GateConfig) -> tuple[GateCheck, dict[str, float]]:
    """Every canary must score at most ``canary_threshold``; returns the check and rewards by kind."""
    if not canaries:
        return GateCheck("canaries", False, "no canaries were built for this task"), {}
    verdicts = await judge.verdicts(
        [c.output for c in canaries], [c.example for c in canaries], prompt_texts=[c.prompt for c in canaries]
    )
    rewards: dict[str, float] = {}
    errors = []
    for canary, verdict in zip(canaries, verdicts):
        key = canary.kind if canary.kind not in rewards else f"{canary.kind}:{canary.example.uid}"
        rewards[key] = verdict.reward
        if verdict.error is not None:
            errors.append(canary.kind)
    worst = max(rewards, key=lambda k: rewards[k])
    if errors:
        return GateCheck("canaries", False, f"the judge failed on canaries: {', '.join(errors)}", rewards[worst]), rewards
    high = [k for k, r in rewards.items() if r > config.canary_threshold]
    if high:
        shown = ", ".join(f"{k}={rewards[k]:.2f}" for k in high)
        return GateCheck("canaries", False, f"degenerate outputs score above {config.canary_threshold}: {shown}", rewards[worst]), rewards
    return GateCheck("canaries", True, f"all {len(rewards)} canaries <= {config.canary_threshold} (max {worst}={rewards[worst]:.2f})", rewards[worst]), rewards


def rank_agreement(rewards: Sequence[float], grades: Sequence[float]) -> float | None:
    """Share of differently graded pairs that the rewards order the same way (ties count half).

    1.0: the rewards rank every pair as the grades do; 0.5: no better than chance; None when all
    grades are equal (nothing to rank).
    """
    if len(rewards) != len(grades):
        raise ValueError("rank_agreement needs one reward per grade")
    total = 0.0
    pairs = 0
    for i in range(len(grades)):
        for j in range(i + 1, len(grades)):
            if grades[i] == grades[j]:
                continue
            pairs += 1
            high, low = (i, j) if grades[i] > grades[j] else (j, i)
            if rewards[high] > rewards[low]:
                total += 1.0
            elif rewards[high] == rewards[low]:
                total += 0.5
    return total / pairs if pairs else None


async def anchor_agreement(judge: RubricJudge, anchors: Sequence[Anchor]) -> tuple[float | None, int]:
    """(rank agreement of ``judge`` with the anchors' grades, judge errors on anchors)."""
    verdicts = await judge.verdicts([a.output for a in anchors], [a.example for a in anchors])
    agreement = rank_agreement([v.reward for v in verdicts], [a.grade for a in anchors])
    return agreement, sum(1 for v in verdicts if not v.ok)


async def check_agreement(
    current: RubricJudge, candidate: RubricJudge, anchors: Sequence[Anchor], config: GateConfig
) -> GateCheck:
    if not anchors:
        return GateCheck("anchors", False, "no anchors: rank agreement cannot be checked")
    before, _ = await anchor_agreement(current, anchors)
    after, errors = await anchor_agreement(candidate, anchors)
    if after is None:
        return GateCheck("anchors", False, "the anchors' grades are all equal: nothing to rank")
    if errors:
        return GateCheck("anchors", False, f"the judge failed on {errors} anchor(s)", after)
    floor = (before if before is not None else 0.0) - config.agreement_tolerance
    shown = f"agreement {after:.3f} vs current {before if before is None else round(before, 3)} on {len(anchors)} anchors"
    if after < floor - 1e-12:
        return GateCheck("anchors", False, f"rank agreement dropped: {shown}", after)
    return GateCheck("anchors", True, shown, after)


async def run_gate(
    candidate: Rubric,
    *,
    current: RubricJudge,
    canaries: Sequence[Canary],
    anchors: Sequence[Anchor],
    dev_examples: Sequence[Example],
    dev_inputs: Sequence[str],
    config: GateConfig = GateConfig(),
) -> tuple[GateDecision, dict[str, float]]:
    """Run every check on ``candidate`` (judged like ``current``, with the candidate's items).

    Returns the decision and the canary rewards by kind (empty when the canaries were skipped).
    """
    cheap = [check_shape(candidate, config), check_leakage(candidate, dev_examples, dev_inputs, config)]
    if not all(c.passed for c in cheap):
        skipped = [
            GateCheck(name, False, "skipped: a cheaper check failed", skipped=True) for name in ("canaries", "anchors")
        ]
        return GateDecision(candidate.version, tuple(cheap + skipped)), {}
    judge = current.with_rubric(candidate)
    canary_check, rewards = await check_canaries(judge, canaries, config)
    if not canary_check.passed:
        skipped = GateCheck("anchors", False, "skipped: the canaries failed", skipped=True)
        return GateDecision(candidate.version, (*cheap, canary_check, skipped)), rewards
    agreement = await check_agreement(current, judge, anchors, config)
    return GateDecision(candidate.version, (*cheap, canary_check, agreement)), rewards
