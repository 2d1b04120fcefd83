"""The machinery every optimizer shares: an optimizer is a class with a step.

:class:`Optimizer` runs the loop (data, initialization, generations until a stop condition fires,
evidence completion, artifacts, summary) and owns what must behave the same for every optimizer
so that runs compare fairly: the run journal, the budget guard (on the spend carried across
sessions, see :mod:`promptopt.spend`), the candidate registry (deduplicated, with token lengths),
scoring on dev blocks through the LLM layer, the Pareto front and the artifacts. A subclass
implements :meth:`Optimizer.initialize` (build and score the first population) and
:meth:`Optimizer.step` (one generation).

Resuming re-executes the run with the same seed: every LLM call made before answers from the
response cache, the journal is checked event by event (:meth:`promptopt.runs.RunDir.record`), and
new events are appended after it. So every random draw must come from ``self.rng`` and every
decision must go through :meth:`Optimizer._record`.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Protocol, Sequence

from pydantic import ConfigDict

from promptopt import records
from promptopt.artifact import Artifact, ProvenanceRecord, ScoreRecord, TokenLengthRecord
from promptopt.budget import Budget, BudgetExhausted, BudgetGuard
from promptopt.evaluation import EvalResult, evaluate
from promptopt.llm.client import LLMClient
from promptopt.llm.ledger import RoleUsage
from promptopt.llm.records import Sampling
from promptopt.operators.proposals import ProposalGuard, ProposalRules, ProposalStats
from promptopt.optimizers.pareto import DEFAULT_OBJECTIVES, FrontPoint, check_objectives, pareto_front
from promptopt.preflight import DataLayout, RequestPlan, RunEstimate
from promptopt.prompt import Prompt
from promptopt.racing import ScoreBook, make_blocks
from promptopt.runs import RunDir
from promptopt.spend import CarriedSpend, ReplayGuard
from promptopt.stats import Estimate, mean_interval
from promptopt.tasks.records import Example
from promptopt.tasks.task import Task
from promptopt.tokens import token_lengths

if TYPE_CHECKING:
    from promptopt.operators.meta import MetaResult


class OptimizerConfig(Protocol):
    """What the base class reads from a config; each optimizer's config dataclass has these."""

    population: int
    dev_size: int
    block_size: int
    renderer: str
    sampling: Sampling
    meta_sampling: Sampling

    def to_dict(self) -> dict[str, Any]: ...


class SamplingConfig(records.Record):
    """Base of an optimizer's config dataclass: run directories store it (config.json) and resume
    compares it; read back, an unknown or mistyped field is named."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    def _check_objectives(self) -> None:
        """The front's ``objectives`` as a tuple of known names (a comma list is accepted)."""
        object.__setattr__(self, "objectives", check_objectives(self.objectives))  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """JSON form; the front's ``objectives`` only when not the default, so config.json of runs
        made before it was a setting compare equal on resume."""
        data = super().to_dict()
        if tuple(data.get("objectives", DEFAULT_OBJECTIVES)) == DEFAULT_OBJECTIVES:
            data.pop("objectives", None)
        return data


@dataclass(frozen=True)
class Progress:
    """What the progress display shows after each step."""

    generation: int
    phase: str
    alive: int
    eliminated: int
    best_score: float | None
    spend: Mapping[str, RoleUsage]


@dataclass(frozen=True)
class CandidateInfo:
    prompt: Prompt
    tokens: int
    generation: int
    operator: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class OptimizationResult:
    """The outcome of a run: best prompt, final population, Pareto front and accounting."""

    best_id: str
    best: Prompt
    best_initial_id: str
    best_score: Estimate
    best_tokens: int
    population: tuple[str, ...]
    front: tuple[FrontPoint, ...]
    candidates: Mapping[str, CandidateInfo]
    generations: int
    stop_reason: str
    block_evaluations: int
    full_block_evaluations: int
    spend: Mapping[str, RoleUsage]
    artifacts: Mapping[str, str] = field(default_factory=dict)
    optimizer: str = "capo"
    #: Meta-LLM proposals per operator: asked, valid, rejected by reason, new prompts evaluated.
    proposals: Mapping[str, Any] = field(default_factory=dict)
    #: The preflight estimate and the actual spend next to it (empty without an estimate).
    preflight: Mapping[str, Any] = field(default_factory=dict)

    @property
    def racing_saved(self) -> float:
        if self.full_block_evaluations == 0:
            return 0.0
        return 1.0 - self.block_evaluations / self.full_block_evaluations

    def summary(self) -> dict[str, Any]:
        """The run summary as JSON data (summary.json, ``--json``)."""
        return summary_of(self)


class Optimizer(ABC):
    """The loop every optimizer runs; subclasses implement :meth:`initialize` and :meth:`step`.

    The loop, in :meth:`run`::

        prepare data (dev blocks, few-shot pool)
        initialize()                      # subclass: register and score the first population
        repeat until a stop condition fires (or stop_search() gives a reason):
            generation += 1
            between_generations()         # hook: invalidate and re-score (see its docstring)
            step()                        # subclass: propose, score, select
            journal "generation", note the spend
        journal "stop"; complete the final population's evidence and rank it
        write artifacts (best, initial, front), summary.json and progress.png

    State a subclass works with: ``population`` (candidate ids, best first, after initialize and
    every step), ``candidates`` (every registered candidate), ``book`` (per-example scores by
    (candidate, dev block)), ``blocks`` / ``max_blocks`` (the dev blocks scored; "full evidence"
    means blocks ``0..max_blocks-1``), ``rng`` (the only source of randomness), ``generation``.
    """

    #: The name in OPTIMIZERS, the journal's provenance and summary.json.
    name: ClassVar[str] = ""
    #: The config dataclass (frozen, with ``to_dict``/``from_dict``; see :class:`OptimizerConfig`).
    config_type: ClassVar[type]
    #: The model roles the constructor takes clients for, besides downstream (``promptopt.optimize``
    #: connects each; a judge-scored optimizer adds its judges).
    model_roles: ClassVar[tuple[str, ...]] = ("meta",)

    def __init__(
        self,
        task: Task,
        downstream: LLMClient,
        meta: LLMClient,
        *,
        config: Any = None,
        seed: int = 42,
        budget: Budget | None = None,
        run_dir: RunDir | None = None,
        initial_prompts: Sequence[str] = (),
        model_spec: str | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.task = task
        self.downstream = downstream
        self.meta = meta
        self.config = config if config is not None else self.default_config()
        self.seed = seed
        self.budget = budget or Budget([])
        self.run_dir = run_dir
        self.initial_prompts = tuple(initial_prompts)
        self.model_spec = model_spec
        self.on_progress = on_progress
        self.rng = random.Random(seed)
        self.book = ScoreBook()
        #: Completion tokens and examples per (candidate, dev block): the front's inference cost.
        self.completions: defaultdict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
        self.candidates: dict[str, CandidateInfo] = {}
        self.population: list[str] = []
        self.generation = 0
        self.history: list[tuple[int, float, float]] = []
        self.pool: tuple[Example, ...] = ()
        #: Rules and memory every meta proposal goes through (rules get the data in run()).
        self.proposals = ProposalGuard()
        self.proposal_stats = ProposalStats()
        #: What the budget and the summary see: this session's spend plus earlier sessions'.
        self.spend_view = CarriedSpend(downstream.ledger, run_dir)
        self.guard = BudgetGuard(self.budget, self.spend_view, run_dir=run_dir.path if run_dir else None)
        #: The check the clients make before every batch while the run searches.
        self.batch_check = ReplayGuard(self.guard, run_dir)
        self._started = time.monotonic()
        #: The preflight estimate made before the run (``promptopt.optimize`` sets it); the
        #: summary sets what was actually spent next to it.
        self.preflight: RunEstimate | None = None
        self._initial_spend: dict[str, RoleUsage] = {}
        self._search_spend: dict[str, RoleUsage] = {}

    # -- what a subclass provides ----------------------------------------------------------------
    @classmethod
    def default_config(cls) -> Any:
        """The config used when none is given: ``config_type()``."""
        return cls.config_type()

    @abstractmethod
    async def initialize(self) -> None:
        """Register the first candidates, score them, and set ``population`` (best first).

        Every member of the population must have at least one scored block when this returns.
        """

    @abstractmethod
    async def step(self) -> int:
        """One generation: propose, score, select; leave ``population`` best first.

        Returns the number of new (non-duplicate) candidates registered.
        """

    def stop_search(self) -> str | None:
        """A reason to end the search that no budget gives (e.g. "initial" never searches)."""
        return None

    def archive(self) -> list[str]:
        """Scored candidates besides the population that the search still uses (e.g. OPRO's
        trajectory, an elite archive); :meth:`between_generations` must keep them scored."""
        return []

    async def between_generations(self) -> bool | None:
        """Hook run at the start of every generation, before the step (and so before the next
        selection), after the budget check.

        This is the one place where scores may be invalidated and re-measured: an optimizer whose
        scores come from a judge that can change (judge-scored tasks) drops the affected entries
        of ``self.book`` and re-scores ``self.population`` and ``self.archive()`` here, then
        re-sorts ``self.population`` best first. Every decision made here must be journaled with
        :meth:`_record` (resume replays it) and every LLM call must go through the clients (the
        budget guard is active). Return True when scores were re-measured (the loop then judges
        improvement from the re-measured best). The default does nothing.
        """

    def _penalty(self, cid: str) -> float:
        """A per-candidate cost subtracted in comparisons (CAPO: its length penalty); ties only."""
        return 0.0

    # -- data sizes a subclass may change ------------------------------------------------------
    def _fewshot_pool_size(self, n_dev: int) -> int:
        """Dev examples set aside as the few-shot pool (none by default)."""
        return 0

    def _block_size(self, n_dev: int) -> int:
        """Examples per dev block (batches are sent block by block, so the budget is checked
        between them); by default the config's, at most the whole dev set."""
        return max(1, min(self.config.block_size, n_dev))

    def _max_blocks(self, n_blocks: int) -> int:
        """How many blocks count as full evidence (by default all: the full dev set)."""
        return n_blocks

    # -- journal -------------------------------------------------------------------------------
    def _record(self, event: str, **fields: Any) -> None:
        if self.run_dir is not None:
            self.run_dir.record(event, **fields)

    def _progress(self, phase: str, eliminated: int = 0) -> None:
        if self.on_progress is None:
            return
        best = self._score(self.population[0]) if self.population and self.book.blocks_of(self.population[0]) else None
        self.on_progress(
            Progress(self.generation, phase, len(self.population), eliminated, best, self.spend_view.snapshot())
        )

    # -- data ----------------------------------------------------------------------------------
    def _layout(self) -> DataLayout:
        """The dev split, its blocks and the few-shot pool the search uses; no side effects, so
        the preflight estimate (:mod:`promptopt.preflight`) sees exactly what the run will."""
        return self._base_layout()

    def _base_layout(self) -> DataLayout:
        """The layout from the config alone (what the journal's "data" event records)."""
        cfg = self.config
        splits = self.task.splits(seed=self.seed, fewshot_pool_size=self._fewshot_pool_size(len(self.task.dev)))
        dev = splits.dev[: cfg.dev_size]
        blocks = make_blocks(len(dev), self._block_size(len(dev)), self.seed)
        return DataLayout(tuple(splits.fewshot_pool), tuple(dev), tuple(blocks), self._max_blocks(len(blocks)))

    def _prepare_data(self) -> None:
        inputs = (str(v) for e in (*self.task.dev, *self.task.test) for v in e.inputs.values())
        self.proposals = ProposalGuard(ProposalRules.for_data(inputs), self.proposals.memory)
        layout = self._base_layout()
        self.pool, self.dev, self.blocks, self.max_blocks = layout.pool, layout.dev, list(layout.blocks), layout.max_blocks
        self._record(
            "data",
            task=self.task.name,
            fingerprint=self.task.fingerprint("dev"),
            dev=len(self.dev),
            fewshot_pool=len(self.pool),
            block_size=layout.block_size,
            blocks=len(self.blocks),
            max_blocks=self.max_blocks,
        )

    def planned_requests(self, layout: DataLayout) -> RequestPlan | None:
        """The requests :meth:`initialize` and one :meth:`step` send, by kind (see
        :mod:`promptopt.preflight`), assuming every proposal comes back valid and new. None: this
        optimizer gives no estimate."""
        return None

    # -- candidates ----------------------------------------------------------------------------
    def instruction_guard(self) -> ProposalGuard:
        """The proposal guard for instruction-only optimizers: a known instruction is a duplicate."""
        return self.proposals.knowing(info.prompt.instruction for info in self.candidates.values())

    def _note_proposals(self, operator: str, results: Sequence[MetaResult]) -> None:
        """Count and journal one batch of meta proposals (why each rejected attempt failed)."""
        reasons: Counter[str] = Counter()
        for result in results:
            self.proposal_stats.count(operator, result.ok, result.reasons)
            reasons.update(result.reasons)
        self._record(
            "proposals",
            generation=self.generation,
            operator=operator,
            asked=len(results),
            valid=sum(1 for r in results if r.ok),
            retried=sum(1 for r in results if r.attempts > 1),
            rejected=dict(sorted(reasons.items())),
        )

    async def _add_candidates(
        self, prompts: Sequence[Prompt], operator: str, parents: Sequence[tuple[str, ...]]
    ) -> list[str]:
        """Register new, distinct prompts (duplicates of any earlier candidate are dropped)."""
        fresh: list[tuple[Prompt, tuple[str, ...]]] = []
        seen: set[str] = set()
        for prompt, origin in zip(prompts, parents):
            if prompt.hash in self.candidates or prompt.hash in seen:
                self._record("duplicate", generation=self.generation, candidate=prompt.hash, operator=operator)
                continue
            seen.add(prompt.hash)
            fresh.append((prompt, origin))
        self.proposal_stats.count_registered(operator, len(fresh), len(prompts) - len(fresh))
        lengths = await token_lengths([p.text() for p, _ in fresh], self.downstream)
        ids = []
        for (prompt, origin), length in zip(fresh, lengths):
            info = CandidateInfo(prompt, length.value, self.generation, operator, tuple(origin))
            self.candidates[prompt.hash] = info
            ids.append(prompt.hash)
            self._record(
                "candidate",
                generation=self.generation,
                candidate=prompt.hash,
                operator=operator,
                parents=list(origin),
                tokens=length.value,
                prompt=prompt.to_dict(),
            )
        return ids

    async def _initial_instructions(self) -> list[str]:
        """μ distinct initial instructions: the user's (μ sampled when more), the rest generated
        by the meta-LLM from the task description (see ``promptopt.operators.initial``)."""
        from promptopt.operators import initial_instructions

        cfg = self.config
        given = list(dict.fromkeys(p.strip() for p in self.initial_prompts if p.strip()))
        if len(given) > cfg.population:
            given = self.rng.sample(given, cfg.population)
        instructions = await initial_instructions(
            self.meta, self.task.description, given, cfg.population, sampling=cfg.meta_sampling
        )
        return instructions[: cfg.population]

    # -- scoring -------------------------------------------------------------------------------
    async def _evaluate_block(self, ids: list[str], block: int) -> dict[str, list[float]]:
        """Score ``ids`` on dev block ``block`` in one batch and journal the block means (the
        caller records the scores in the book)."""
        examples = [self.dev[i] for i in self.blocks[block]]
        results = await evaluate(
            [self.candidates[c].prompt for c in ids],
            examples,
            self.task,
            self.downstream,
            renderer=self.config.renderer,
            sampling=self.config.sampling,
        )
        scores = {cid: result.scores for cid, result in zip(ids, results)}
        for cid, result in zip(ids, results):  # cached answers count too: they are the prompt's cost
            self.completions[cid][block] = (sum(r.completion_tokens for r in result.records), len(result.records))
        self._record(
            "evaluation",
            generation=self.generation,
            block=block,
            scores={cid: round(sum(s) / len(s), 6) for cid, s in scores.items()},
            parse_failures={cid: r.parse_failures for cid, r in zip(ids, results)},
            **self._observe(ids, examples, results),
        )
        return scores

    def _observe(
        self, ids: Sequence[str], examples: Sequence[Example], results: Sequence[EvalResult]
    ) -> dict[str, Any]:
        """Called with every evaluated block's results; returns extra fields for its journal
        event. A subclass that learns from outputs (MPO keeps the judged ones) overrides it."""
        return {}

    async def _score_full(self, ids: Sequence[str]) -> None:
        """Score ``ids`` on every block of full evidence they lack, one batch per block (so the
        budget is checked between blocks)."""
        for block in range(self.max_blocks):
            missing = [c for c in ids if not self.book.has(c, block)]
            if missing:
                for cid, scores in (await self._evaluate_block(missing, block)).items():
                    self.book.record(cid, block, scores)

    def _score(self, cid: str) -> float:
        """Mean score over the blocks ``cid`` has been scored on."""
        return self.book.mean(cid)

    def _rank(self, ids: Sequence[str]) -> list[str]:
        """``ids`` best first: by score, then penalty, then their given order."""
        order = {cid: i for i, cid in enumerate(ids)}
        return sorted(ids, key=lambda c: (-self._score(c), self._penalty(c), order[c]))

    def _mean_population_score(self) -> float:
        scores = [self._score(c) for c in self.population if self.book.blocks_of(c)]
        return sum(scores) / len(scores) if scores else 0.0

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> OptimizationResult:
        """Initialize, run generations until a stop condition fires, then finish: final ranking
        on equal evidence, artifacts, summary and plot."""
        self.spend_view.open()
        try:
            return await self._search_and_finish()
        finally:
            self.spend_view.close()

    async def _search_and_finish(self) -> OptimizationResult:
        self.batch_check.install(self._guarded_clients())
        stop_reason = "finished"
        try:
            self._prepare_data()
            await self.initialize()
            self._initial_spend = self.spend_view.snapshot()
            self.spend_view.note(0)
            self._progress("initialized")
            self.best_initial = self.population[0]
            best_score = self._score(self.population[0])
            self.history.append((0, best_score, self._mean_population_score()))
            while True:
                self.guard.generation = self.generation
                reason = self.budget.reason(self.guard.state()) or self.stop_search()
                if reason is not None:
                    stop_reason = reason
                    break
                self.generation += 1
                if await self.between_generations():
                    # the hook re-measured the scores (e.g. a new judge rubric): improvement is
                    # judged from the re-measured best, not from a best on another scale
                    best_score = self._score(self.population[0])
                new = await self.step()
                new_best = self._score(self.population[0])
                improved = new_best > best_score + 1e-12
                best_score = max(best_score, new_best)
                self.guard.generations_without_improvement = (
                    0 if improved else self.guard.generations_without_improvement + 1
                )
                self.history.append((self.generation, new_best, self._mean_population_score()))
                self._record(
                    "generation",
                    generation=self.generation,
                    new_candidates=new,
                    best=self.population[0],
                    best_score=round(new_best, 6),
                    improved=improved,
                )
                self.spend_view.note(self.generation)
        except BudgetExhausted as exc:
            stop_reason = exc.reason
        if not self.population or not self.book.blocks_of(self.population[0]):
            self.batch_check.uninstall(self._guarded_clients())
            raise BudgetExhausted(
                f"the run stopped before the initial population was scored ({stop_reason}): "
                "raise the budget"
            )
        # The spend up to the stop is noted before it: a resumed run with a raised budget drops
        # the stop and everything after it, and must still carry this session's whole spend.
        self.spend_view.note(self.generation)
        self._search_spend = self.spend_view.snapshot()
        self._record("stop", generation=self.generation, reason=stop_reason)
        try:
            await self._complete_evidence()
        except BudgetExhausted as exc:
            self._record("evidence_incomplete", reason=exc.reason)
        finally:
            self.batch_check.uninstall(self._guarded_clients())
        self.spend_view.note(self.generation)
        return self._finish(stop_reason)

    def _guarded_clients(self) -> list[LLMClient]:
        """The clients the budget check goes on; a subclass with more endpoints adds them."""
        return [self.downstream, self.meta]

    async def _complete_evidence(self) -> None:
        """Score the final population on every block of full evidence, then rank it on that equal
        evidence (spec §7: the best by dev score with equal evidence; the front needs full
        evidence).

        Resource limits still apply; generation-based stops do not, since the search is over.
        """
        self.guard.generation = 0
        self.guard.generations_without_improvement = 0
        await self._score_full(self.population)
        full = list(range(self.max_blocks))
        order = {cid: i for i, cid in enumerate(self.population)}
        self.population.sort(key=lambda c: (-self.book.mean(c, full), self._penalty(c), order[c]))
        self._record(
            "final_ranking",
            candidates=list(self.population),
            scores={c: round(self.book.mean(c, full), 6) for c in self.population},
        )

    # -- results -------------------------------------------------------------------------------
    def _preflight_report(self) -> dict[str, Any]:
        """The preflight estimate next to what the run spent: generation 0, and the mean of the
        later generations (evidence completion after the stop not included)."""
        if self.preflight is None or not self._initial_spend:
            return {}
        initial = _stage_actual(self._initial_spend)
        searched = _stage_actual(self._search_spend or self.spend_view.snapshot())
        later = {"requests": searched["requests"] - initial["requests"], "tokens": searched["tokens"] - initial["tokens"]}
        per = ({k: round(v / self.generation, 1) for k, v in later.items()} if self.generation else None)
        return {"estimate": self.preflight.to_dict(),
                "actual": {"initial": initial, "generations": self.generation, "per_generation": per}}

    def _estimate(self, cid: str, blocks: Sequence[int] | None = None) -> Estimate:
        chosen = blocks if blocks is not None else self.book.blocks_of(cid)
        scores = [float(s) for b in chosen for s in self.book.get(cid, b)]
        return mean_interval(scores)

    def front(self) -> list[FrontPoint]:
        """Every candidate with full dev evidence (all blocks of full evidence), non-dominated."""
        full = list(range(self.max_blocks))
        points = [
            FrontPoint(cid, self.book.mean(cid, full), info.tokens, self._completion_tokens(cid, full))
            for cid, info in self.candidates.items()
            if all(self.book.has(cid, b) for b in full)
        ]
        return pareto_front(points, self._objectives())

    def _completion_tokens(self, cid: str, blocks: Sequence[int]) -> float | None:
        """Mean completion tokens per example over ``blocks`` (None when a block's are unknown)."""
        seen = [self.completions[cid].get(b) for b in blocks]
        if any(s is None for s in seen):
            return None
        total, n = sum(s[0] for s in seen if s), sum(s[1] for s in seen if s)
        return round(total / n, 3) if n else None

    def _objectives(self) -> tuple[str, ...]:
        """The front's objectives, from the config (or its search's, for MPO)."""
        config = getattr(self.config, "search", self.config)
        return tuple(getattr(config, "objectives", DEFAULT_OBJECTIVES))

    def artifact(self, cid: str) -> Artifact:
        info = self.candidates[cid]
        estimate = self._estimate(cid)
        return Artifact.build(
            info.prompt,
            task=self.task,
            renderer=self.config.renderer,
            model_spec=self.model_spec,
            sampling=self.config.sampling,
            scores=[
                ScoreRecord(
                    split="dev",
                    metric=self.task.metric.name,
                    n=estimate.n,
                    value=estimate.value,
                    low=estimate.low,
                    high=estimate.high,
                )
            ],
            token_length=TokenLengthRecord(value=info.tokens, method="the downstream model's tokenizer (llama.cpp, tiktoken, the server's /tokenize) or an estimate"),
            provenance=ProvenanceRecord(
                optimizer=self.name,
                run_id=self.run_dir.path.name if self.run_dir else None,
                generation=info.generation,
                seed=self.seed,
                parents=list(info.parents),
            ),
        )

    def _finish(self, stop_reason: str) -> OptimizationResult:
        best = self.population[0]
        front = self.front()
        artifacts: dict[str, str] = {}
        if self.run_dir is not None:
            artifacts["best"] = str(self.run_dir.write_artifact("best", self.artifact(best)))
            # the baseline to compare against: the best initial prompt on its initial evidence
            artifacts["initial"] = str(self.run_dir.write_artifact("initial", self.artifact(self.best_initial)))
            for rank, point in enumerate(front, start=1):
                path = self.run_dir.write_artifact(f"front/{rank:02d}", self.artifact(point.candidate_id))
                artifacts[f"front/{rank:02d}"] = str(path)
        result = OptimizationResult(
            best_id=best,
            best=self.candidates[best].prompt,
            best_initial_id=self.best_initial,
            best_score=self._estimate(best),
            best_tokens=self.candidates[best].tokens,
            population=tuple(self.population),
            front=tuple(front),
            candidates=dict(self.candidates),
            generations=self.generation,
            stop_reason=stop_reason,
            block_evaluations=self.book.evaluations,
            # evaluating every scored candidate on every block of full evidence
            full_block_evaluations=self.max_blocks * sum(1 for c in self.candidates if self.book.blocks_of(c)),
            spend=self.spend_view.snapshot(),
            artifacts=artifacts,
            optimizer=self.name,
            proposals=self.proposal_stats.to_dict(),
            preflight=self._preflight_report(),
        )
        if self.run_dir is not None:
            self.run_dir.write_summary(result.summary())
            self.run_dir.plot_progress(
                self.run_dir.path / "progress.png",
                self.history,
                [(p.tokens, p.score) for p in front],
            )
        return result


def _stage_actual(usage: Mapping[str, RoleUsage]) -> dict[str, Any]:
    """Logical requests (cache hits included, retries not) and tokens, per role and in all."""
    return {
        "requests": sum(u.asked + u.cache_hits for u in usage.values()),
        "tokens": sum(u.total_tokens for u in usage.values()),
        "by_role": {role: u.asked + u.cache_hits for role, u in sorted(usage.items())},
    }


def summary_of(result: OptimizationResult) -> dict[str, Any]:
    """The run summary as JSON data (summary.json, ``--json``)."""
    est = result.best_score
    return {
        "optimizer": result.optimizer,
        "best": {
            "candidate": result.best_id,
            "instruction": result.best.instruction,
            "examples": len(result.best.examples),
            "dev_score": est.value,
            "dev_low": est.low,
            "dev_high": est.high,
            "dev_n": est.n,
            "tokens": result.best_tokens,
        },
        "best_initial": result.best_initial_id,
        "population": list(result.population),
        "front": [asdict(p) for p in result.front],
        "generations": result.generations,
        "stop_reason": result.stop_reason,
        "candidates": len(result.candidates),
        "racing": {
            "block_evaluations": result.block_evaluations,
            "full_block_evaluations": result.full_block_evaluations,
            "saved": round(result.racing_saved, 4),
        },
        "spend": {role: usage.to_dict() for role, usage in sorted(result.spend.items())},
        "proposals": dict(result.proposals),
        "artifacts": dict(result.artifacts),
        **({"preflight": dict(result.preflight)} if result.preflight else {}),
    }
