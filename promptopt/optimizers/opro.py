"""OPRO (Yang et al., "Large Language Models as Optimizers"): the meta-LLM sees the best
instructions so far with their scores and proposes new ones.

One step: show the best ≤ ``max_shown`` (instruction, dev score) pairs, sorted ascending, and
``examples_shown`` dev examples drawn with the run's rng; sample ``proposals`` new instructions
from that one meta-prompt; score each on the full dev set. The population is the trajectory the
next meta-prompt shows: the best ``max_shown`` scored instructions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptopt.llm.records import Sampling
from promptopt.optimizers.baseline import BaselineConfig, ZeroShotBaseline
from promptopt.prompt import Prompt


def _opro_meta_sampling() -> Sampling:
    # OPRO samples its proposals at temperature 1 so that the 8 samples of one meta-prompt differ
    return Sampling(temperature=1.0, top_p=0.95, max_tokens=512)


@dataclass(frozen=True)
class OPROConfig(BaselineConfig):
    """OPRO's settings (spec §9); see :class:`BaselineConfig` for the shared ones."""

    max_shown: int = 20  # (instruction, score) pairs in the meta-prompt
    examples_shown: int = 3  # task examples in the meta-prompt
    proposals: int = 8  # new instructions per step
    meta_sampling: Sampling = field(default_factory=_opro_meta_sampling)

    def __post_init__(self) -> None:
        super().__post_init__()
        from promptopt import bounds

        bounds.check(self, ("max_shown", "proposals", "examples_shown"))


class OPRO(ZeroShotBaseline):
    """OPRO over zero-shot instructions, every proposal scored on the full dev set."""

    name = "opro"
    config_type = OPROConfig
    config: OPROConfig

    proposal_kind = "opro"

    def _proposals_per_generation(self, population: int) -> int:
        return self.config.proposals

    async def initialize(self) -> None:
        await super().initialize()
        self.population = self.population[: self.config.max_shown]

    async def step(self) -> int:
        from promptopt.operators import bare_answer, opro_meta_prompt, propose_instructions

        cfg = self.config
        asked = self._affordable(cfg.proposals)
        shown = list(self.population)  # best first, at most max_shown
        ascending = list(reversed(shown))  # the order the meta-prompt lists them in
        examples = self.rng.sample(self.dev, min(cfg.examples_shown, len(self.dev)))
        meta_prompt = opro_meta_prompt(
            self.task.description,
            [(self.candidates[c].prompt.instruction, self._score(c)) for c in ascending],
            [(self.task.render_input(e), bare_answer(self.task, e.target)) for e in examples],
        )
        self._record(
            "meta_prompt",
            generation=self.generation,
            shown=ascending,
            examples=[e.uid for e in examples],
        )
        results = await propose_instructions(
            self.meta,
            meta_prompt,
            asked,
            sampling=cfg.meta_sampling,
            fallback=self.candidates[shown[0]].prompt.instruction,
            first_sample=2 * cfg.proposals * (self.generation - 1),
            shown=[self.candidates[c].prompt.instruction for c in ascending],
            guard=self.instruction_guard(),
        )
        self._note_proposals("opro", results)
        new = await self._add_scored([Prompt(r.text) for r in results], "opro", [(shown[0],)] * len(results))
        self.population = self._rank(shown + new)[: cfg.max_shown]
        self._record_population()
        return len(new)
