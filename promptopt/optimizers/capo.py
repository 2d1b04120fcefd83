"""CAPO: cost-aware evolutionary prompt search with racing and a length penalty.

One generation: c crossovers of random parent pairs, a mutation of every child, a few-shot edit
(add / remove / keep, then shuffle), deduplication, then a race of population + children on dev
blocks that keeps μ survivors (see ``promptopt.racing``). Every decision goes to the run journal.
Resuming re-executes the run with the same seed: every LLM call made before answers from the
response cache, the journal is checked event by event, and new events are appended after it.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from promptopt.artifact import Artifact, ProvenanceRecord, ScoreRecord, TokenLengthRecord
from promptopt.budget import Budget, BudgetExhausted, BudgetGuard
from promptopt.evaluation import evaluate
from promptopt.llm.client import LLMClient
from promptopt.llm.ledger import RoleUsage
from promptopt.llm.records import Sampling
from promptopt.optimizers.pareto import FrontPoint, pareto_front
from promptopt.prompt import Prompt
from promptopt.racing import ScoreBook, make_blocks, race
from promptopt.runs import RunDir
from promptopt.stats import Estimate, mean_interval
from promptopt.tasks.records import Example
from promptopt.tasks.task import Task
from promptopt.tokens import token_lengths


@dataclass(frozen=True)
class CAPOConfig:
    """CAPO's hyperparameters; defaults are the paper's (spec §2-§5) unless said otherwise."""

    population: int = 10  # μ
    offspring: int = 4  # c
    block_size: int = 30  # b
    max_blocks: int = 10  # z: blocks per race
    alpha: float = 0.2  # racing significance level
    length_penalty: float = 0.05  # γ
    max_shots: int = 5  # K
    fewshot_pool: int = 200
    dev_size: int = 300
    racing_test: str = "ttest"
    zero_variance: str = "sign"
    #: Score all survivors on the same blocks before ranking (the reference does not).
    equal_evidence: bool = True
    renderer: str = "paper"
    #: Reproduce the reference implementation's behaviour: its few-shot "add" bug, and ranking
    #: survivors on unequal evidence (``equal_evidence`` is then ignored).
    paper_compat: bool = False
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.1, top_p=0.9, max_tokens=256))
    meta_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7, top_p=0.95, max_tokens=512))

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(f"population must be >= 2, got {self.population}")
        if self.offspring < 1:
            raise ValueError(f"offspring must be >= 1, got {self.offspring}")
        for name in ("block_size", "max_blocks", "fewshot_pool", "dev_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.max_shots < 0 or self.length_penalty < 0:
            raise ValueError("max_shots and length_penalty must be >= 0")
        from promptopt.prompt import renderer_for

        renderer_for(self.renderer)  # raises ValueError naming the valid renderers

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sampling"] = self.sampling.to_dict()
        data["meta_sampling"] = self.meta_sampling.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CAPOConfig":
        values = dict(data)
        values["sampling"] = Sampling.from_dict(values.get("sampling", {}))
        values["meta_sampling"] = Sampling.from_dict(values.get("meta_sampling", {}))
        return cls(**values)


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

    @property
    def racing_saved(self) -> float:
        if self.full_block_evaluations == 0:
            return 0.0
        return 1.0 - self.block_evaluations / self.full_block_evaluations


#: Journal events that record a budget stop at a batch that was never sent.
_BUDGET_STOPS = ("stop", "evidence_incomplete")


class _CarriedLedger:
    """The ledger a budget sees: this process's spend plus what earlier sessions of the same run
    had spent by the point the run has reached (answers replayed from the cache are free now but
    were paid for then). ``offset`` gives that earlier spend."""

    def __init__(self, ledger: Any, offset: Callable[[], Mapping[str, RoleUsage]]) -> None:
        self.ledger = ledger
        self.offset = offset

    def snapshot(self) -> dict[str, RoleUsage]:
        now = self.ledger.snapshot()
        carried = self.offset()
        roles = set(now) | set(carried)
        return {role: _add(carried.get(role, RoleUsage()), now.get(role, RoleUsage())) for role in roles}


def _add(a: RoleUsage, b: RoleUsage) -> RoleUsage:
    usd = None if a.usd is None and b.usd is None else (a.usd or 0.0) + (b.usd or 0.0)
    return RoleUsage(
        requests=a.requests + b.requests,
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        estimated_token_responses=a.estimated_token_responses + b.estimated_token_responses,
        cache_hits=a.cache_hits + b.cache_hits,
        errors=a.errors + b.errors,
        latency_s=a.latency_s + b.latency_s,
        usd=usd,
    )


class CAPO:
    """CAPO on one task, with a downstream model and a meta model (often the same endpoint)."""

    name = "capo"

    def __init__(
        self,
        task: Task,
        downstream: LLMClient,
        meta: LLMClient,
        *,
        config: CAPOConfig | None = None,
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
        self.config = config or CAPOConfig()
        self.seed = seed
        self.budget = budget or Budget([])
        self.run_dir = run_dir
        self.initial_prompts = tuple(initial_prompts)
        self.model_spec = model_spec
        self.on_progress = on_progress
        self.rng = random.Random(seed)
        self.book = ScoreBook()
        self.candidates: dict[str, CandidateInfo] = {}
        self.population: list[str] = []
        self.generation = 0
        self.history: list[tuple[int, float, float]] = []
        self._stored_spend = self._stored_spend_notes()
        self.spend_view = _CarriedLedger(downstream.ledger, self._carried_spend)
        self.guard = BudgetGuard(self.budget, self.spend_view, run_dir=run_dir.path if run_dir else None)
        self._started = time.monotonic()

    # -- journal -------------------------------------------------------------------------------
    def _record(self, event: str, **fields: Any) -> None:
        if self.run_dir is not None:
            self.run_dir.record(event, **fields)

    def _stored_spend_notes(self) -> list[tuple[int, dict[str, Any]]]:
        """(seq, cumulative usage) of the spend notes earlier sessions of this run wrote."""
        if self.run_dir is None:
            return []
        return [
            (int(e["seq"]), e["usage"])
            for e in self.run_dir.events()
            if e.get("event") == "spend" and e.get("note") is True
        ]

    def _carried_spend(self) -> dict[str, RoleUsage]:
        """Earlier sessions' spend at the point this run has reached: while the journal is being
        replayed, the last note before the next stored decision; afterwards, the last note."""
        if not self._stored_spend or self.run_dir is None:
            return {}
        upcoming = self.run_dir.replay_next
        limit = None if upcoming is None else int(upcoming["seq"])
        usable = [usage for seq, usage in self._stored_spend if limit is None or seq < limit]
        return {role: RoleUsage(**values) for role, values in (usable[-1] if usable else {}).items()}

    def _note_spend(self) -> None:
        # While replaying, the stored notes already say what was spent up to here.
        if self.run_dir is not None and not self.run_dir.replaying:
            usage = {role: asdict(u) for role, u in self.spend_view.snapshot().items()}
            self.run_dir.note("spend", generation=self.generation, usage=usage)

    def _progress(self, phase: str, eliminated: int = 0) -> None:
        if self.on_progress is None:
            return
        best = self._score(self.population[0]) if self.population and self.book.blocks_of(self.population[0]) else None
        self.on_progress(
            Progress(self.generation, phase, len(self.population), eliminated, best, self.spend_view.snapshot())
        )

    # -- data ----------------------------------------------------------------------------------
    def _prepare_data(self) -> None:
        cfg = self.config
        dev_all = self.task.dev
        pool_size = min(cfg.fewshot_pool, max(1, len(dev_all) // 4)) if cfg.max_shots > 0 else 0
        splits = self.task.splits(seed=self.seed, fewshot_pool_size=pool_size)
        self.pool: tuple[Example, ...] = splits.fewshot_pool
        self.dev: tuple[Example, ...] = splits.dev[: cfg.dev_size]
        block_size = min(cfg.block_size, max(1, len(self.dev) // 2))
        self.blocks = make_blocks(len(self.dev), block_size, self.seed)
        self.max_blocks = min(cfg.max_blocks, len(self.blocks))
        self._record(
            "data",
            task=self.task.name,
            fingerprint=self.task.fingerprint("dev"),
            dev=len(self.dev),
            fewshot_pool=len(self.pool),
            block_size=block_size,
            blocks=len(self.blocks),
            max_blocks=self.max_blocks,
        )

    # -- candidates ----------------------------------------------------------------------------
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

    async def _initialize(self) -> None:
        from promptopt.operators import build_fewshots, initial_instructions, sample_fewshot_examples

        cfg = self.config
        given = list(dict.fromkeys(p.strip() for p in self.initial_prompts if p.strip()))
        if len(given) > cfg.population:
            given = self.rng.sample(given, cfg.population)
        instructions = await initial_instructions(
            self.meta, self.task.description, given, cfg.population, sampling=cfg.meta_sampling
        )
        instructions = instructions[: cfg.population]
        shots = [sample_fewshot_examples(self.pool, cfg.max_shots, self.rng) for _ in instructions]
        jobs = [(instruction, example) for instruction, chosen in zip(instructions, shots) for example in chosen]
        built = await build_fewshots(
            self.downstream, self.task, jobs, renderer=cfg.renderer, sampling=cfg.sampling
        )
        prompts, cursor = [], 0
        for instruction, chosen in zip(instructions, shots):
            prompts.append(Prompt(instruction, tuple(built[cursor : cursor + len(chosen)])))
            cursor += len(chosen)
        self.population = await self._add_candidates(prompts, "init", [()] * len(prompts))
        self.max_initial_tokens = max(self.candidates[c].tokens for c in self.population) or 1
        self._record("initial_population", candidates=list(self.population), max_tokens=self.max_initial_tokens)

    async def _offspring(self) -> list[str]:
        from promptopt.operators import (
            apply_fewshot_edit,
            build_fewshots,
            crossover,
            mutate,
            plan_fewshot_edits,
        )

        cfg = self.config
        pairs = [tuple(self.rng.sample(self.population, 2)) for _ in range(cfg.offspring)]
        parents = [(self.candidates[a].prompt, self.candidates[b].prompt) for a, b in pairs]
        children = await crossover(self.meta, self.task.description, parents, self.rng, sampling=cfg.meta_sampling)
        children = await mutate(self.meta, self.task.description, children, sampling=cfg.meta_sampling)
        edits = plan_fewshot_edits(len(children), self.rng)
        additions: list[tuple[int, Example]] = []
        for index, edit in enumerate(edits):
            if edit == "add" and self.pool:
                additions.append((index, self.rng.choice(self.pool)))
        new_shots = await build_fewshots(
            self.downstream,
            self.task,
            [(children[i].instruction, example) for i, example in additions],
            renderer=cfg.renderer,
            sampling=cfg.sampling,
        )
        shot_for = {i: shot for (i, _), shot in zip(additions, new_shots)}
        edited = [
            apply_fewshot_edit(
                child,
                edit,
                self.rng,
                new_shot=shot_for.get(index),
                max_shots=cfg.max_shots,
                paper_compat=cfg.paper_compat,
            )
            for index, (child, edit) in enumerate(zip(children, edits))
        ]
        return await self._add_candidates(edited, "crossover+mutation", pairs)

    # -- racing --------------------------------------------------------------------------------
    async def _evaluate_block(self, ids: list[str], block: int) -> dict[str, list[float]]:
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
        self._record(
            "evaluation",
            generation=self.generation,
            block=block,
            scores={cid: round(sum(s) / len(s), 6) for cid, s in scores.items()},
            parse_failures={cid: r.parse_failures for cid, r in zip(ids, results)},
        )
        return scores

    def _penalty(self, cid: str) -> float:
        return self.config.length_penalty * self.candidates[cid].tokens / self.max_initial_tokens

    def _score(self, cid: str) -> float:
        return self.book.mean(cid)

    async def _select(self, contenders: list[str]) -> list[str]:
        cfg = self.config
        result = await race(
            contenders,
            blocks=self.blocks,
            evaluate=self._evaluate_block,
            book=self.book,
            keep=cfg.population,
            penalty={cid: self._penalty(cid) for cid in contenders},
            alpha=cfg.alpha,
            max_blocks=self.max_blocks,
            test=cfg.racing_test,
            zero_variance=cfg.zero_variance,
            equal_evidence=cfg.equal_evidence and not cfg.paper_compat,
        )
        for gone in result.eliminated:
            self._record(
                "elimination",
                generation=self.generation,
                candidate=gone.candidate_id,
                block=gone.block,
                beaten_by=list(gone.beaten_by),
            )
        survivors = list(result.survivors)
        self._record(
            "survivors",
            generation=self.generation,
            candidates=survivors,
            scores={cid: round(self._score(cid), 6) for cid in survivors},
            block_evaluations=result.evaluations,
            full_block_evaluations=result.full_evaluations,
        )
        self._progress("raced", eliminated=len(result.eliminated))
        return survivors

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> OptimizationResult:
        """Initialize, run generations until a stop condition fires, then finish: final ranking
        on equal evidence, artifacts, summary and plot."""
        self._guard_clients(self.guard)
        stop_reason = "finished"
        try:
            self._prepare_data()
            await self._initialize()
            self._progress("initialized")
            # Score the initial population on the first block, so that every member has evidence
            # and the best initial prompt has a dev score to beat.
            first = await self._evaluate_block(list(self.population), 0)
            for cid, scores in first.items():
                self.book.record(cid, 0, scores)
            order = {cid: i for i, cid in enumerate(self.population)}
            self.population.sort(key=lambda c: (-self._score(c), self._penalty(c), order[c]))
            self.best_initial = self.population[0]
            best_score = self._score(self.population[0])
            self.history.append((0, best_score, self._mean_population_score()))
            while True:
                self.guard.generation = self.generation
                reason = self.budget.reason(self.guard.state())
                if reason is not None:
                    stop_reason = reason
                    break
                self.generation += 1
                children = await self._offspring()
                if children:
                    self.population = await self._select(self.population + children)
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
                    new_candidates=len(children),
                    best=self.population[0],
                    best_score=round(new_best, 6),
                    improved=improved,
                )
                self._note_spend()
        except BudgetExhausted as exc:
            stop_reason = exc.reason
        if not self.population or not self.book.blocks_of(self.population[0]):
            self._guard_clients(None)
            raise BudgetExhausted(
                f"the run stopped before the initial population was scored ({stop_reason}): "
                "raise the budget"
            )
        # The spend up to the stop is noted before it: a resumed run with a raised budget drops
        # the stop and everything after it, and must still carry this session's whole spend.
        self._note_spend()
        self._record("stop", generation=self.generation, reason=stop_reason)
        try:
            await self._complete_evidence()
        except BudgetExhausted as exc:
            self._record("evidence_incomplete", reason=exc.reason)
        finally:
            self._guard_clients(None)
        self._note_spend()
        return self._finish(stop_reason)

    def _guard_clients(self, guard: BudgetGuard | None) -> None:
        """Budget checks before every batch, on both endpoints (they may be different servers)."""
        check = None if guard is None else self._check_batch
        self.downstream.set_guard(check)
        self.meta.set_guard(check)

    def _check_batch(self, role: str, n_requests: int) -> None:
        """The budget check before a batch is sent; replay-aware.

        A budget stop happens at the first batch that would be sent once the limit is reached;
        that batch was never answered, so a replay reaches it as its first uncached batch: if the
        journal stopped the run there, stop again with the stored reason.
        """
        upcoming = self.run_dir.replay_next if self.run_dir is not None else None
        if upcoming is not None and upcoming.get("event") in _BUDGET_STOPS:
            raise BudgetExhausted(str(upcoming.get("reason")))
        self.guard(role, n_requests)

    async def _complete_evidence(self) -> None:
        """Score the final population on every raced block, then rank it on that equal evidence
        (spec §7: the best by dev score with equal evidence; the front needs full evidence).

        Resource limits still apply; generation-based stops do not, since the search is over.
        """
        self.guard.generation = 0
        self.guard.generations_without_improvement = 0
        for block in range(self.max_blocks):
            missing = [c for c in self.population if not self.book.has(c, block)]
            if missing:
                for cid, scores in (await self._evaluate_block(missing, block)).items():
                    self.book.record(cid, block, scores)
        full = list(range(self.max_blocks))
        order = {cid: i for i, cid in enumerate(self.population)}
        self.population.sort(key=lambda c: (-self.book.mean(c, full), self._penalty(c), order[c]))
        self._record(
            "final_ranking",
            candidates=list(self.population),
            scores={c: round(self.book.mean(c, full), 6) for c in self.population},
        )

    def _mean_population_score(self) -> float:
        scores = [self._score(c) for c in self.population if self.book.blocks_of(c)]
        return sum(scores) / len(scores) if scores else 0.0

    # -- results -------------------------------------------------------------------------------
    def _estimate(self, cid: str, blocks: Sequence[int] | None = None) -> Estimate:
        chosen = blocks if blocks is not None else self.book.blocks_of(cid)
        scores = [float(s) for b in chosen for s in self.book.get(cid, b)]
        return mean_interval(scores)

    def front(self) -> list[FrontPoint]:
        """Every candidate with full dev evidence (all raced blocks), non-dominated."""
        full = list(range(self.max_blocks))
        points = [
            FrontPoint(cid, self.book.mean(cid, full), info.tokens)
            for cid, info in self.candidates.items()
            if all(self.book.has(cid, b) for b in full)
        ]
        return pareto_front(points)

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
            token_length=TokenLengthRecord(value=info.tokens, method="downstream tokenizer or server count"),
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
            # the baseline to compare against: the best initial prompt on the first dev block
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
            # evaluating every candidate on every raced block, without racing
            full_block_evaluations=self.max_blocks * sum(1 for c in self.candidates if self.book.blocks_of(c)),
            spend=self.spend_view.snapshot(),
            artifacts=artifacts,
        )
        if self.run_dir is not None:
            self.run_dir.write_summary(summary_of(result))
            self.run_dir.plot_progress(
                self.run_dir.path / "progress.png",
                self.history,
                [(p.tokens, p.score) for p in front],
            )
        return result


def summary_of(result: OptimizationResult) -> dict[str, Any]:
    """The run summary as JSON data (summary.json, ``--json``)."""
    est = result.best_score
    return {
        "optimizer": "capo",
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
        "artifacts": dict(result.artifacts),
    }


def with_overrides(config: CAPOConfig, **changes: Any) -> CAPOConfig:
    """A copy of ``config`` with the non-None ``changes`` applied (CLI flags)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
