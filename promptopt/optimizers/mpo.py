"""MPO: prompt search against an LLM judge whose rubric evolves, through a gate, during the run.

The evolving judge is a mixin (:class:`EvolvingRubric`) on any optimizer of
:mod:`promptopt.optimizers.base`; :class:`MPO` puts it on CAPO's search (crossover, mutation,
racing on dev blocks), and :func:`with_evolving_rubric` on any other. The task is judge-scored
(:mod:`promptopt.judging`). In the base loop's ``between_generations`` hook a meta step may run:
every ``meta_every`` generations, or when the best score jumps or saturates at the top. It samples judged outputs
since the last meta step (top-scored first), has the meta-judge critique and rewrite the rubric,
and submits the merged rubric to the acceptance gate. An accepted rubric becomes the next version;
the population and the elite archive (population plus the best initial prompt) are then re-scored
under it on the same blocks, before the next selection, since scores under different versions do
not compare. Every journal event that holds a score also holds the rubric version behind it, and
every rubric version is stored under ``rubrics/`` in the run directory.

The final choice is not left to the evolving judge: the finalists (the top of the final ranking)
are scored on held-out dev examples by a held-out evaluator (the task's frozen validation rubric,
or another judge model), and the best of them by that score is the result.

With ``evolve=False`` the same optimizer runs against the fixed initial rubric: the baseline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from promptopt import records
from promptopt.evaluation import EvalResult, evaluate
from promptopt.judging.canaries import build_canaries
from promptopt.judging.gate import Anchor, anchor_agreement, check_canaries
from promptopt.judging.judge import RubricJudge
from promptopt.judging.rubric import Rubric, rubric_path
from promptopt.judging.judge_setup import (
    JudgeSetup,
    build_judge,
    judge_setup_for,
    judged_task,
    reference_anchors,
)
from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.optimizers.base import DataLayout, OptimizationResult, Optimizer, summary_of
from promptopt.optimizers.capo import CAPO, CAPOConfig
from promptopt.optimizers.rubric_step import (
    JudgedOutput,
    MetaStepResult,
    RefineConfig,
    RubricRefiner,
    sample_for_analysis,
)
from promptopt.racing import ScoreBook, make_blocks
from promptopt.tasks.records import Example
from promptopt.tasks.task import Task

__all__ = ["MPO", "EvolvingRubric", "MPOConfig", "MPOResult", "with_evolving_rubric"]


def _holds_scores(fields: Mapping[str, Any]) -> bool:
    """Journal events with a score field (or canary rewards) also record the rubric version."""
    return any("score" in name or name == "canaries" for name in fields)


@dataclass(frozen=True)
class MPOConfig(records.Record):
    """MPO's settings on top of the search's (``search``: CAPO's config unless another optimizer)."""

    search: Any = field(default_factory=CAPOConfig)
    #: False: never change the rubric (the fixed-rubric baseline).
    evolve: bool = True
    #: k: a meta step after every k completed generations.
    meta_every: int = 2
    #: A meta step when the best score rose by this much since the last one.
    jump: records.Number = 0.2
    #: A meta step when the best score reaches this (once per rubric version).
    saturation: records.Number = 0.95
    #: Dev examples kept out of the search for the held-out final choice.
    heldout_size: int = 8
    #: How many of the final ranking the held-out evaluator scores.
    finalists: int = 3
    refine: RefineConfig = field(default_factory=RefineConfig)
    judge_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.0, max_tokens=384))
    #: Score the canaries under the initial rubric too (journaled, informative only).
    audit_initial: bool = True

    def __post_init__(self) -> None:
        if self.meta_every < 1:
            raise ValueError(f"meta_every must be >= 1, got {self.meta_every}")
        if self.heldout_size < 1 or self.finalists < 1:
            raise ValueError("heldout_size and finalists must be >= 1")


@dataclass(frozen=True)
class MPOResult(OptimizationResult):
    """CAPO's result plus the rubric story and the held-out choice."""

    rubric: Rubric | None = None
    rubric_versions: tuple[int, ...] = ()
    meta_steps: tuple[Mapping[str, Any], ...] = ()
    heldout_scores: Mapping[str, float] = field(default_factory=dict)
    heldout_evaluator: str = ""

    def summary(self) -> dict[str, Any]:
        """The base summary plus the rubric versions, meta-step outcomes and held-out scores."""
        summary = summary_of(self)
        summary["rubric"] = {
            "final_version": self.rubric.version if self.rubric else None,
            "versions": list(self.rubric_versions),
            "meta_steps": [
                {k: step[k] for k in ("generation", "outcome", "detail", "rubric_version")} for step in self.meta_steps
            ],
        }
        summary["heldout"] = {
            "evaluator": self.heldout_evaluator,
            "scores": {c: round(s, 6) for c, s in self.heldout_scores.items()},
        }
        return summary


class EvolvingRubric(Optimizer):
    """Mixin for an :class:`~promptopt.optimizers.base.Optimizer`: a judge-scored task whose
    rubric evolves through the gate between generations, and a held-out final choice.

    Put it first in the bases (``class MPO(EvolvingRubric, CAPO)``); it takes the judge clients
    and :class:`MPOConfig` and hands ``config.search`` to the optimizer.
    """

    model_roles = ("meta", "judge", "meta_judge", "heldout_judge")

    def __init__(
        self,
        task: Task,
        downstream: LLMClient,
        meta: LLMClient,
        *,
        judge: LLMClient | None = None,
        meta_judge: LLMClient | None = None,
        heldout_judge: LLMClient | None = None,
        setup: JudgeSetup | None = None,
        config: MPOConfig | None = None,
        **options: Any,
    ) -> None:
        self.mpo = config or MPOConfig()
        self.setup = setup or judge_setup_for(task)
        self.plain_task = replace(task, judge=None)
        judge_client = judge if judge is not None else downstream.with_role("judge")
        self.judge: RubricJudge = build_judge(task, judge_client, setup=self.setup, sampling=self.mpo.judge_sampling)
        self.meta_judge = meta_judge or meta.with_role("meta_judge")
        self.heldout_client = heldout_judge
        super().__init__(judged_task(task, self.judge), downstream, meta, config=self.mpo.search, **options)
        self.meta_rng = random.Random(self.seed + 1)
        self.judged_outputs: list[JudgedOutput] = []
        self.versions: list[Rubric] = [self.judge.rubric]
        self.meta_steps: list[dict[str, Any]] = []
        self.last_meta_generation = 0
        self.best_at_last_meta: float | None = None
        self.saturation_audited: int | None = None
        self.heldout_scores: dict[str, float] = {}
        self.heldout_estimates: dict[str, Any] = {}
        self.heldout_evaluator = ""

    # -- journal -------------------------------------------------------------------------------
    def _record(self, event: str, **fields: Any) -> None:
        if _holds_scores(fields) and "rubric_version" not in fields:
            fields["rubric_version"] = self.judge.version
        super()._record(event, **fields)

    def _store_rubric(self, rubric: Rubric, *, refused: bool = False) -> None:
        if self.run_dir is None:
            return
        path = rubric_path(self.run_dir.path, rubric.version)
        if refused:
            path = path.parent / "refused" / path.name
        rubric.save(path)

    def _guarded_clients(self) -> list[Any]:
        judges = (self.judge.client, self.meta_judge, self.heldout_client)
        return super()._guarded_clients() + [client for client in judges if client is not None]

    # -- data ----------------------------------------------------------------------------------
    def _layout(self) -> DataLayout:
        """The search's layout with the last dev examples held out for the final choice, and
        the blocks cut again from what is left."""
        whole = self._base_layout()
        held = min(self.mpo.heldout_size, max(1, len(whole.dev) // 4))
        dev = whole.dev[:-held]
        blocks = make_blocks(len(dev), self._block_size(len(dev)), self.seed)
        return DataLayout(whole.pool, dev, tuple(blocks), self._max_blocks(len(blocks)), heldout=whole.dev[-held:])

    def planned_requests(self, layout: DataLayout) -> Any:
        """The search's requests plus one judge call per scored output."""
        plan = super().planned_requests(layout)
        if plan is None:
            return None

        def judged(counts: Mapping[str, float]) -> dict[str, float]:
            return {**counts, "judge": counts.get("eval", 0.0)}

        return replace(plan, initial=judged(plan.initial), generation_low=judged(plan.generation_low),
                       generation_high=judged(plan.generation_high),
                       excludes=("rubric meta steps", "canary audits", "held-out final scoring"))

    def _prepare_data(self) -> None:
        super()._prepare_data()  # journals the search's data as before the held-out split
        layout = self._layout()
        self.heldout, self.dev, self.blocks, self.max_blocks = layout.heldout, layout.dev, list(layout.blocks), layout.max_blocks
        self._record(
            "heldout",
            heldout=len(self.heldout),
            dev=len(self.dev),
            block_size=layout.block_size,
            blocks=len(self.blocks),
            max_blocks=self.max_blocks,
        )
        self.refiner = RubricRefiner(
            self.meta_judge,
            self.plain_task,
            setup=self.setup,
            dev=self.dev,
            anchors=self._anchors(),
            config=self.mpo.refine,
            validation_judge=self._validation_judge(),
        )
        self._store_rubric(self.judge.rubric)
        self._record("rubric", version=self.judge.version, rubric=self.judge.rubric.to_dict(), evolve=self.mpo.evolve)

    async def initialize(self) -> None:
        await super().initialize()
        if self.mpo.audit_initial:
            await self._audit(self.judge)

    async def _audit(self, judge: RubricJudge) -> None:
        """Journal how the rubric in force fares on the canaries and the anchors (information:
        the initial rubric is not gated, and a hackable one shows it here)."""
        canaries = build_canaries(
            self.dev[:1],
            self.plain_task.render_input,
            task_description=self.plain_task.description,
            rubric=judge.rubric,
            language=self.setup.guards.language,
        )
        check, rewards = await check_canaries(judge, canaries, self.mpo.refine.gate)
        agreement, _ = await anchor_agreement(judge, self.refiner.anchors) if self.refiner.anchors else (None, 0)
        self._record(
            "rubric_audit",
            version=judge.version,
            canaries_pass=check.passed,
            canaries={k: round(v, 6) for k, v in rewards.items()},
            anchor_agreement=None if agreement is None else round(agreement, 6),
        )

    def _validation_judge(self) -> RubricJudge | None:
        """The frozen validation rubric's judge (grades anchors when the task has none)."""
        rubric = self.setup.validation_rubric
        if rubric is None:
            return None
        return replace(self.judge.with_rubric(rubric), memo={})

    def _anchors(self) -> list[Anchor]:
        """The task's graded anchors, else reference-graded ones (journaled either way)."""
        if self.setup.anchors is not None:
            anchors, source = self.setup.anchors(self.plain_task, self.dev), "task"
        else:
            anchors, source = reference_anchors(self.plain_task, self.dev), "references"
        self._record("anchors", source=source, n=len(anchors), grades=[a.grade for a in anchors])
        return anchors

    # -- evaluation: keep every judged output for the next meta step ----------------------------
    def _observe(
        self, ids: Sequence[str], examples: Sequence[Example], results: Sequence[EvalResult]
    ) -> dict[str, Any]:
        for cid, result in zip(ids, results):
            text = self.candidates[cid].prompt.text()
            for example, record in zip(examples, result.records):
                verdict = self.judge.lookup(example, record.raw_output, text)
                if verdict is not None:
                    self.judged_outputs.append(JudgedOutput(cid, example, record.raw_output, verdict))
        return {"judge_errors": {cid: r.errors for cid, r in zip(ids, results)}}

    # -- the meta step between generations -----------------------------------------------------
    def archive(self) -> list[str]:
        """The elite archive kept scored across rubric changes: the search's own, plus the best
        initial prompt (the baseline every artifact is compared with)."""
        kept = list(super().archive())
        initial = getattr(self, "best_initial", None)
        return kept + ([initial] if initial is not None and initial not in kept else [])

    def _trigger(self) -> str | None:
        if not self.mpo.evolve or not self.population:
            return None
        best = self._score(self.population[0])
        if self.best_at_last_meta is None:
            self.best_at_last_meta = best
        completed = self.generation - 1
        if completed - self.last_meta_generation >= self.mpo.meta_every:
            return f"every {self.mpo.meta_every} generations"
        if best - self.best_at_last_meta >= self.mpo.jump:
            return f"best score jumped {self.best_at_last_meta:.3f} -> {best:.3f}"
        if best >= self.mpo.saturation and self.saturation_audited != self.judge.version:
            self.saturation_audited = self.judge.version
            return f"best score {best:.3f} saturates (>= {self.mpo.saturation})"
        return None

    async def between_generations(self) -> bool:
        """A meta step if one is due; after an accepted rubric, re-score before selection (and
        tell the loop so: True)."""
        reason = self._trigger()
        if reason is None:
            return False
        samples = sample_for_analysis(
            self.judged_outputs,
            self.mpo.refine.samples,
            self.meta_rng,
            top_share=self.mpo.refine.top_share,
            stratified_share=self.mpo.refine.stratified_share,
        )
        self._record("meta_step", generation=self.generation, trigger=reason, outputs=len(self.judged_outputs))
        step = await self.refiner.step(self.judge, samples)
        self._journal_step(step)
        self.judged_outputs = []
        self.last_meta_generation = self.generation - 1
        if step.changed:
            self.judge = self.judge.with_rubric(step.after)
            self.task = judged_task(self.plain_task, self.judge)
            self.versions.append(step.after)
            await self.rescore()
        self.best_at_last_meta = self._score(self.population[0])
        return step.changed

    def _journal_step(self, step: MetaStepResult) -> None:
        fields = step.to_journal()
        self.meta_steps.append({"generation": self.generation, **fields})
        if step.candidate is not None:
            self._store_rubric(step.candidate, refused=not step.changed)
        event = {"accepted": "rubric_accepted", "refused": "rubric_refused"}.get(step.outcome, "rubric_unchanged")
        self._record(event, generation=self.generation, **fields)

    async def rescore(self) -> None:
        """Score the population and the elite archive again under the current rubric, on the
        blocks each already had (same examples), into a fresh score book."""
        old = self.book
        archive = list(dict.fromkeys([*self.population, *self.archive()]))
        by_block: dict[int, list[str]] = {}
        for cid in archive:
            for block in old.blocks_of(cid):
                by_block.setdefault(block, []).append(cid)
        self.book = ScoreBook()
        self.book.evaluations = old.evaluations
        for block in sorted(by_block):
            for cid, scores in (await self._evaluate_block(by_block[block], block)).items():
                self.book.record(cid, block, scores)
        self.population = self._rank(self.population)
        self._record(
            "rescore",
            generation=self.generation,
            candidates=archive,
            blocks=sorted(by_block),
            scores={cid: round(self._score(cid), 6) for cid in archive},
        )

    # -- the held-out final choice -------------------------------------------------------------
    def _heldout_judge(self) -> tuple[RubricJudge, str]:
        frozen = self.setup.validation_rubric
        what = "validation rubric" if frozen is not None else "frozen initial rubric"
        rubric = frozen or self.versions[0]
        base = build_judge(self.plain_task, self.judge.client, setup=self.setup, rubric=rubric, sampling=self.mpo.judge_sampling)
        if self.heldout_client is not None:
            return base.with_client(self.heldout_client), f"{what} on the held-out judge model"
        return replace(base, memo={}), what

    async def _complete_evidence(self) -> None:
        await super()._complete_evidence()
        finalists = self.population[: self.mpo.finalists]
        judge, self.heldout_evaluator = self._heldout_judge()
        results = await evaluate(
            [self.candidates[c].prompt for c in finalists],
            self.heldout,
            judged_task(self.plain_task, judge),
            self.downstream,
            renderer=self.config.renderer,
            sampling=self.config.sampling,
        )
        self.heldout_estimates = {cid: r.estimate for cid, r in zip(finalists, results)}
        self.heldout_scores = {cid: r.estimate.value for cid, r in zip(finalists, results)}
        rank = {cid: i for i, cid in enumerate(self.population)}
        finalists.sort(key=lambda c: (-self.heldout_scores[c], rank[c]))
        self.population = finalists + self.population[len(finalists) :]
        self._record(
            "heldout_ranking",
            evaluator=self.heldout_evaluator,
            candidates=finalists,
            heldout_scores={c: round(s, 6) for c, s in self.heldout_scores.items()},
            evaluator_rubric=judge.rubric.to_dict(),
            judge_errors={cid: r.errors for cid, r in zip(finalists, results)},
        )

    def artifact(self, cid: str) -> Any:
        """The base artifact, with its dev score labelled by the judge rubric version that produced
        it, plus the held-out evaluator's score when the candidate was a finalist."""
        from promptopt.artifact import ScoreRecord

        base = super().artifact(cid)
        label = f"judge rubric v{self.judge.version}"
        scores = [s.model_copy(update={"metric": label}) for s in base.scores]
        estimate = self.heldout_estimates.get(cid)
        if estimate is not None:
            scores.append(
                ScoreRecord(split="dev-heldout", metric=f"held-out: {self.heldout_evaluator}", n=estimate.n,
                            value=estimate.value, low=estimate.low, high=estimate.high)
            )
        return base.model_copy(update={"scores": scores})

    def _finish(self, stop_reason: str) -> MPOResult:
        base = super()._finish(stop_reason)
        result = MPOResult(
            **{f: getattr(base, f) for f in OptimizationResult.__dataclass_fields__},
            rubric=self.judge.rubric,
            rubric_versions=tuple(r.version for r in self.versions),
            meta_steps=tuple(self.meta_steps),
            heldout_scores=dict(self.heldout_scores),
            heldout_evaluator=self.heldout_evaluator,
        )
        if self.run_dir is not None:
            self.run_dir.write_summary(result.summary())
        return result


class MPO(EvolvingRubric, CAPO):
    """MPO on CAPO's search: the evolving, gated rubric with crossover, mutation and racing.

    Constructed like any optimizer (``MPO(task, downstream, meta, config=MPOConfig(...))``): the
    judge and the meta-judge then share the downstream endpoint under their own roles.
    """

    name = "mpo"
    config_type = MPOConfig


def with_evolving_rubric(optimizer: type) -> type:
    """``optimizer`` (a base.Optimizer subclass) with the evolving rubric: any optimizer can run
    against a judge-scored task this way (its ``name`` becomes ``"mpo-" + name``)."""
    return type(
        f"Evolving{optimizer.__name__}",
        (EvolvingRubric, optimizer),
        {"name": f"mpo-{optimizer.name}", "config_type": MPOConfig},
    )
