"""What the baselines (OPRO, EvoPrompt GA/DE, "initial") share: zero-shot instructions scored on
the full dev set, and the settings for that.

The papers' baselines optimize the instruction alone, and score every candidate on every dev
example (no racing): that is the cost CAPO's racing is measured against. The dev set is still
scored block by block (``block_size`` examples per batch) so that the budget is checked between
batches and a stop overshoots by at most one block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptopt.llm.records import Sampling
from promptopt.optimizers.base import Optimizer, SamplingConfig
from promptopt.prompt import Prompt

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

    def __post_init__(self) -> None:
        minimum = self._min_population()
        if self.population < minimum:
            raise ValueError(f"population must be >= {minimum}, got {self.population}")
        for name in ("dev_size", "block_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
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
