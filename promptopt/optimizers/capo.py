"""CAPO: cost-aware evolutionary prompt search with racing and a length penalty.

One generation: c crossovers of random parent pairs, a mutation of every child, a few-shot edit
(add / remove / keep, then shuffle), deduplication, then a race of population + children on dev
blocks that keeps μ survivors (see ``promptopt.racing``). Every decision goes to the run journal.
The loop, journal, budget, resume and artifacts are the shared ones of
:class:`promptopt.optimizers.base.Optimizer`; this module is CAPO's initialization and step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from promptopt import records
from promptopt.llm.records import Sampling
from promptopt.optimizers.pareto import DEFAULT_OBJECTIVES
from promptopt.optimizers.base import (  # noqa: F401  (re-exported: the names CAPO users import)
    CandidateInfo,
    DataLayout,
    OptimizationResult,
    Optimizer,
    SamplingConfig,
    Progress,
    summary_of,
)
from promptopt.prompt import Prompt
from promptopt.racing import race
from promptopt.tasks.records import Example

if TYPE_CHECKING:
    from promptopt.preflight import RequestPlan


@dataclass(frozen=True)
class CAPOConfig(SamplingConfig):
    """CAPO's hyperparameters; defaults are the paper's (spec §2-§5) unless said otherwise."""

    population: int = 10  # μ
    offspring: int = 4  # c
    block_size: int = 30  # b
    max_blocks: int = 10  # z: blocks per race
    alpha: records.Number = 0.2  # racing significance level
    length_penalty: records.Number = 0.05  # γ
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
    #: What the Pareto front trades off (see :mod:`promptopt.optimizers.pareto`).
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES

    def __post_init__(self) -> None:
        from promptopt import bounds

        self._check_objectives()
        bounds.check(self, ("population",), low=2)
        bounds.check(self, ("offspring", "block_size", "max_blocks", "fewshot_pool", "dev_size", "max_shots"))
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, got {self.length_penalty}")
        from promptopt.prompt import renderer_for

        renderer_for(self.renderer)  # raises ValueError naming the valid renderers


class CAPO(Optimizer):
    """CAPO on one task, with a downstream model and a meta model (often the same endpoint)."""

    name = "capo"
    config_type = CAPOConfig
    config: CAPOConfig

    # -- data ----------------------------------------------------------------------------------
    def _fewshot_pool_size(self, n_dev: int) -> int:
        cfg = self.config
        return min(cfg.fewshot_pool, max(1, n_dev // 4)) if cfg.max_shots > 0 else 0

    def _block_size(self, n_dev: int) -> int:
        return min(self.config.block_size, max(1, n_dev // 2))

    def _max_blocks(self, n_blocks: int) -> int:
        return min(self.config.max_blocks, n_blocks)

    def planned_requests(self, layout: DataLayout) -> RequestPlan:
        """μ initial prompts with their few-shot examples on the first block; then c crossovers,
        c mutations, a new shot for about a third of the children, and a race: from every child
        out after one block to every contender scored on every block of full evidence."""
        from promptopt.preflight import RequestPlan, initial_population

        cfg = self.config
        members, meta = initial_population(self.initial_prompts, cfg.population)
        shots = min(cfg.max_shots, len(layout.pool)) / 2  # n ~ UniformInt[0, K], capped at the pool
        size, c = layout.block_size, cfg.offspring
        added = c / 3 if layout.pool else 0.0
        proposals = {"meta:crossover": c, "meta:mutation": c, "shot": added}
        return RequestPlan(
            {"meta:init": meta, "shot": members * shots, "eval": members * size},
            {**proposals, "eval": c * size},
            {**proposals, "eval": size * ((members + c) * layout.max_blocks - members)},
            shots=shots,
        )

    # -- candidates ----------------------------------------------------------------------------
    async def initialize(self) -> None:
        """μ instructions with sampled few-shots; scored on the first block, so that every member
        has evidence and the best initial prompt has a dev score to beat."""
        from promptopt.operators import build_fewshots, sample_fewshot_examples

        cfg = self.config
        instructions = await self._initial_instructions()
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
        first = await self._evaluate_block(list(self.population), 0)
        for cid, scores in first.items():
            self.book.record(cid, 0, scores)
        self.population = self._rank(self.population)

    async def step(self) -> int:
        """c children by crossover + mutation + few-shot edit, then a race keeps μ survivors."""
        children = await self._offspring()
        if children:
            self.population = await self._select(self.population + children)
        return len(children)

    async def _offspring(self) -> list[str]:
        from promptopt.operators import (
            apply_fewshot_edit,
            build_fewshots,
            crossover_detailed,
            mutate_detailed,
            plan_fewshot_edits,
        )

        cfg = self.config
        pairs = [tuple(self.rng.sample(self.population, 2)) for _ in range(cfg.offspring)]
        parents = [(self.candidates[a].prompt, self.candidates[b].prompt) for a, b in pairs]
        crossed = await crossover_detailed(
            self.meta, self.task.description, parents, self.rng, sampling=cfg.meta_sampling, guard=self.proposals
        )
        self._note_proposals("crossover", [child.meta for child in crossed])
        mutated = await mutate_detailed(
            self.meta, self.task.description, [child.prompt for child in crossed],
            sampling=cfg.meta_sampling, guard=self.proposals,
        )
        self._note_proposals("mutation", [child.meta for child in mutated])
        children = [child.prompt for child in mutated]
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
    def _penalty(self, cid: str) -> float:
        return self.config.length_penalty * self.candidates[cid].tokens / self.max_initial_tokens

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


def with_overrides(config: CAPOConfig, **changes: Any) -> CAPOConfig:
    """A copy of ``config`` with the non-None ``changes`` applied (CLI flags)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
