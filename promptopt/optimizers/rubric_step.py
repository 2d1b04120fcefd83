"""One meta step: sample judged outputs, propose rubrics, merge, gate; keep the old rubric if refused.

Used by the MPO optimizer between generations and by ``promptopt rubric refine`` on a fixed set of
outputs. It drives the rubric operators and judging's gate, so it lives above both, with the
optimizers. Sampling follows the black-box additions of the spec: the top-scored outputs first
(where hacks live), then score-stratified ones, then random ones, at most one output per prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from promptopt import records
from promptopt.judging.canaries import build_canaries
from promptopt.judging.gate import Anchor, GateConfig, GateDecision, run_gate
from promptopt.judging.judge import RubricJudge, Verdict
from promptopt.judging.rubric import Rubric
from promptopt.judging.judge_setup import JudgeSetup
from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.operators.rubric import GradedOutput, analyze_and_refine, merge_rubrics
from promptopt.tasks.records import Example
from promptopt.tasks.task import Task

__all__ = ["JudgedOutput", "MetaStepResult", "RefineConfig", "RubricRefiner", "sample_for_analysis"]


@dataclass(frozen=True)
class JudgedOutput:
    """An output of one prompt (``candidate``) on one example, with the judge's verdict."""

    candidate: str
    example: Example
    output: str
    verdict: Verdict


def sample_for_analysis(
    pool: Sequence[JudgedOutput],
    n: int,
    rng: random.Random,
    *,
    top_share: float = 0.5,
    stratified_share: float = 0.34,
) -> list[JudgedOutput]:
    """Up to ``n`` outputs: the top-scored, then one per reward stratum, then random ones.

    Outputs stopped by a guard or a judge error have no item grades to critique and are left out;
    at most one output per candidate prompt is taken (the first by reward, then by order).
    """
    graded = [o for o in pool if o.verdict.ok and o.verdict.guard is None]
    best_per_prompt: dict[str, JudgedOutput] = {}
    for item in sorted(graded, key=lambda o: -o.verdict.reward):
        best_per_prompt.setdefault(item.candidate, item)
    ranked = list(best_per_prompt.values())  # highest reward first
    n = min(n, len(ranked))
    n_top = min(n, max(1, round(n * top_share))) if n else 0
    chosen = ranked[:n_top]
    rest = ranked[n_top:]
    n_strata = min(len(rest), round(n * stratified_share), n - len(chosen))
    if n_strata > 0:
        size = len(rest) / n_strata
        for s in range(n_strata):
            stratum = rest[int(s * size) : max(int((s + 1) * size), int(s * size) + 1)]
            pick = stratum[rng.randrange(len(stratum))]
            chosen.append(pick)
    left = [o for o in rest if o not in chosen]
    while len(chosen) < n and left:
        chosen.append(left.pop(rng.randrange(len(left))))
    return chosen


@dataclass(frozen=True)
class RefineConfig(records.Record):
    """How a meta step samples and what the gate demands."""

    samples: int = 6
    top_share: records.Number = 0.5
    stratified_share: records.Number = 0.34
    gate: GateConfig = field(default_factory=GateConfig)
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7, max_tokens=512))

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if not 0 <= self.top_share <= 1 or not 0 <= self.stratified_share <= 1:
            raise ValueError("top_share and stratified_share must be in [0, 1]")


@dataclass(frozen=True)
class MetaStepResult:
    """What a meta step decided. ``after`` is the rubric in force afterwards (``before`` if refused)."""

    before: Rubric
    after: Rubric
    candidate: Rubric | None
    decision: GateDecision | None
    samples: tuple[JudgedOutput, ...]
    proposal_errors: tuple[str, ...]
    canary_rewards: Mapping[str, float]
    outcome: str  # "accepted", "refused", "no_candidate", "unchanged"
    detail: str

    @property
    def changed(self) -> bool:
        return self.outcome == "accepted"

    def to_journal(self) -> dict[str, Any]:
        """JSON fields for the run journal: every decision and its reasons."""
        return {
            "outcome": self.outcome,
            "detail": self.detail,
            "rubric_version": self.before.version,
            "candidate": None if self.candidate is None else self.candidate.to_dict(),
            "gate": None if self.decision is None else self.decision.to_dict(),
            "canaries": {k: round(v, 6) for k, v in self.canary_rewards.items()},
            "samples": [
                {"candidate": s.candidate, "example": s.example.uid, "reward": round(s.verdict.reward, 6)}
                for s in self.samples
            ],
            "proposal_errors": list(self.proposal_errors),
        }


class RubricRefiner:
    """Runs meta steps for one task: meta-judge, gate thresholds, anchors, canaries, leakage set."""

    def __init__(
        self,
        meta: LLMClient,
        task: Task,
        *,
        setup: JudgeSetup,
        dev: Sequence[Example],
        anchors: Sequence[Anchor],
        config: RefineConfig | None = None,
        first_version: int = 2,
        validation_judge: RubricJudge | None = None,
    ) -> None:
        self.meta = meta
        self.task = task
        self.setup = setup
        self.dev = tuple(dev)
        self.dev_inputs = tuple(task.render_input(e) for e in self.dev)
        self.anchors = tuple(anchors)
        self.config = config or RefineConfig()
        #: Every candidate gets its own version number, accepted or not, so none is ambiguous.
        self.next_version = first_version
        #: A frozen judge that grades the analysed outputs when there are no fixed anchors.
        self.validation_judge = validation_judge

    async def anchors_for(self, samples: Sequence[JudgedOutput]) -> tuple[Anchor, ...]:
        """The fixed anchors; without them, ``samples`` graded by the frozen validation judge."""
        if self.anchors or self.validation_judge is None or not samples:
            return self.anchors
        verdicts = await self.validation_judge.verdicts([s.output for s in samples], [s.example for s in samples])
        return tuple(
            Anchor(s.example, s.output, v.reward, "validation judge") for s, v in zip(samples, verdicts) if v.ok
        )

    async def step(self, judge: RubricJudge, samples: Sequence[JudgedOutput]) -> MetaStepResult:
        """Analysis and refinement per sample, merge, gate. The judge's rubric is the current one."""
        current = judge.rubric
        cfg = self.config

        def result(outcome: str, detail: str, **extra: Any) -> MetaStepResult:
            fields: dict[str, Any] = dict(
                before=current, after=current, candidate=None, decision=None, samples=tuple(samples),
                proposal_errors=(), canary_rewards={}, outcome=outcome, detail=detail,
            )
            fields.update(extra)
            return MetaStepResult(**fields)

        if not samples:
            return result("no_candidate", "no judged outputs to analyse")
        graded = [
            GradedOutput(
                input_text=self.task.render_input(s.example),
                output=s.output,
                reward=s.verdict.reward,
                items=s.verdict.items,
                reference=s.example.target if self.setup.use_references and s.example.target else None,
            )
            for s in samples
        ]
        proposals = await analyze_and_refine(
            self.meta, self.task.description, current, graded, sampling=cfg.sampling
        )
        errors = tuple(p.error for p in proposals if p.error)
        candidates = [p.rubric for p in proposals if p.rubric is not None]
        if not candidates:
            return result("no_candidate", "no proposal parsed", proposal_errors=errors)
        merged = await merge_rubrics(
            self.meta, self.task.description, current, candidates, sampling=cfg.sampling, min_items=cfg.gate.min_items
        )
        proposed = merged.rubric
        if proposed is None:
            # a parsed proposal is still a whole rubric: the gate, not the merge, decides on it
            fallback = next((c for c in candidates if len(c.items) >= cfg.gate.min_items), candidates[0])
            position = candidates.index(fallback) + 1
            proposed = current.next_version(fallback.items, origin="refinement", notes=f"proposal {position}, unmerged")
        if proposed.same_items(current):
            return result("unchanged", "the merged rubric equals the current one", proposal_errors=errors)
        candidate = proposed.with_version(self.next_version, current.version)
        self.next_version += 1
        canaries = build_canaries(
            self.dev[:1],
            self.task.render_input,
            task_description=self.task.description,
            rubric=candidate,
            language=self.setup.guards.language,
        )
        decision, rewards = await run_gate(
            candidate,
            current=judge,
            canaries=canaries,
            anchors=await self.anchors_for(samples),
            dev_examples=self.dev,
            dev_inputs=self.dev_inputs,
            config=cfg.gate,
        )
        extra = dict(candidate=candidate, decision=decision, proposal_errors=errors, canary_rewards=rewards)
        unmerged = "" if merged.rubric is not None else f"merge failed ({merged.error}), {proposed.notes}: "
        if decision.accepted:
            return result("accepted", f"{unmerged}v{candidate.version} passed every check", after=candidate, **extra)
        return result("refused", unmerged + "; ".join(decision.reasons), **extra)
