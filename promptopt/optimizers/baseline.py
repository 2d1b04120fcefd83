"""What the baselines (OPRO, EvoPrompt GA/DE, "initial") share: zero-shot instructions scored on
the full dev set, and the settings for that.

The papers' baselines optimize the instruction alone, and score every candidate on every dev
example (no racing): that is the cost CAPO's racing is measured against. The dev set is still
scored block by block (``block_size`` examples per batch) so that the budget is checked between
batches and a stop overshoots by at most one block.

A step asks the meta-LLM for no more new instructions than the token (or call) budget left can
score: near the end of a budget, an OPRO step of 4 proposals on AG News cost 2,500 meta tokens
that the budget then had no room to evaluate. :meth:`ZeroShotBaseline._affordable` estimates one
new candidate's cost from the run's own spend and cuts the step (journal event ``budget_cut``),
or ends the run when not one fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promptopt.budget import BudgetExhausted
from promptopt.llm.ledger import RoleUsage
from promptopt.llm.records import Sampling
from promptopt.optimizers.base import DataLayout, Optimizer, SamplingConfig
from promptopt.optimizers.pareto import DEFAULT_OBJECTIVES
from promptopt.prompt import Prompt

if TYPE_CHECKING:
    from promptopt.preflight import RequestPlan


def _paper_sampling() -> Sampling:
    # the CAPO paper's downstream sampling, used for every optimizer it compares (spec §8)
    return Sampling(temperature=0.1, top_p=0.9, max_tokens=256)


def _meta_sampling() -> Sampling:
    return Sampling(temperature=0.7, top_p=0.95, max_tokens=512)


@dataclass(frozen=True)
class BaselineConfig(SamplingConfig):
    """Settings every baseline has. ``population``: how many initial instructions (the user's,
    completed by the meta-LLM); ``dev_size``: dev examples every candidate is scored on;
    ``block_size``: examples per evaluation batch (dev is cut into blocks of this size, the
    leftover forms no block)."""

    population: int = 10
    dev_size: int = 300
    block_size: int = 30
    renderer: str = "paper"
    sampling: Sampling = field(default_factory=_paper_sampling)
    meta_sampling: Sampling = field(default_factory=_meta_sampling)
    #: What the Pareto front trades off (see :mod:`promptopt.optimizers.pareto`).
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES

    def __post_init__(self) -> None:
        from promptopt import bounds

        self._check_objectives()
        bounds.check(self, ("population",), low=self._min_population())
        bounds.check(self, ("dev_size", "block_size"))
        from promptopt.prompt import renderer_for

        renderer_for(self.renderer)  # raises ValueError naming the valid renderers

    @classmethod
    def _min_population(cls) -> int:
        return 1


class ZeroShotBaseline(Optimizer):
    """Initialization shared by the baselines: μ zero-shot instructions, scored on the full dev
    set, ranked best first. Subclasses add :meth:`step`."""

    config: BaselineConfig

    async def initialize(self) -> None:
        instructions = await self._initial_instructions()
        prompts = [Prompt(text) for text in instructions]
        self.population = await self._add_candidates(prompts, "init", [()] * len(prompts))
        self._record("initial_population", candidates=list(self.population))
        await self._score_full(self.population)
        self.population = self._rank(self.population)

    #: The meta-prompt kind of a proposal (see :mod:`promptopt.preflight`); "" for no proposals.
    proposal_kind: str = ""

    def _proposals_per_generation(self, population: int) -> int:
        """New prompts one :meth:`step` asks for (``population``: the population's size)."""
        return 0

    def planned_requests(self, layout: DataLayout) -> RequestPlan:
        """Every candidate is scored on the full dev set: μ at initialization, then each proposal."""
        from promptopt.preflight import RequestPlan, initial_population

        members, meta = initial_population(self.initial_prompts, self.config.population)
        full = layout.max_blocks * layout.block_size
        per = self._proposals_per_generation(members)
        generation = {f"meta:{self.proposal_kind}": per, "eval": per * full} if per else {}
        return RequestPlan({"meta:init": meta, "eval": members * full}, generation, generation)

    def _candidate_cost(self) -> dict[str, RoleUsage]:
        """One more new candidate's cost per role, estimated from this run's spend so far: one
        meta request (the average one), and of every other role (downstream answers, token
        counts) one candidate's share, as if every proposal came back valid and new."""
        cost: dict[str, RoleUsage] = {}
        for role, row in self.spend_view.snapshot().items():
            count = row.requests if role == self.meta.role else len(self.candidates)
            if count > 0:
                cost[role] = row.share(count)
        return cost

    def _affordable(self, wanted: int) -> int:
        """How many new candidates this step asks for: ``wanted``, or as many as the budget left
        can score (journaled as ``budget_cut``); raises :class:`BudgetExhausted` when not one
        fits. A replay takes the stored decision, since the spend it saw is not re-derived."""
        upcoming = self.run_dir.replay_next if self.run_dir is not None else None
        if upcoming is not None:
            if upcoming.get("event") != "budget_cut":
                return wanted
            stored = {k: v for k, v in upcoming.items() if k not in ("event", "seq", "t")}
            self._record("budget_cut", **stored)
            return int(stored["asked"])
        room = self.budget.room(self.guard.state(), self._candidate_cost())
        if room is None or room.units >= wanted:
            return wanted
        if room.units == 0:
            raise BudgetExhausted(f"budget too small for another new prompt: {room.describe()}")
        self._record("budget_cut", generation=self.generation, wanted=wanted, asked=room.units, room=room.describe())
        return room.units

    async def _add_scored(self, prompts: list[Prompt], operator: str, parents: list[tuple[str, ...]]) -> list[str]:
        """Register the distinct new prompts and score them on the full dev set."""
        ids = await self._add_candidates(prompts, operator, parents)
        await self._score_full(ids)
        return ids

    def _record_population(self) -> None:
        self._record(
            "survivors",
            generation=self.generation,
            candidates=list(self.population),
            scores={cid: round(self._score(cid), 6) for cid in self.population},
        )
        self._progress("scored")
