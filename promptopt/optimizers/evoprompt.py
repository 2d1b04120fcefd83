"""EvoPrompt (Guo et al., "Connecting LLMs with evolutionary algorithms"): GA and DE over
instruction text, the meta-LLM acting as the variation operators.

GA, one generation: ``offspring`` children, each from two distinct parents drawn by roulette wheel
(probability proportional to dev score), crossed over and mutated in one meta request; children
are scored on the full dev set; the best μ of parents + children survive.

DE, one generation: for every member ("current"), two other members are drawn as donors; the
meta-LLM mutates the parts where the donors differ, merges them into the best member and crosses
the result over with the current one. The trial replaces the current member when it scores
strictly higher on the full dev set.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptopt.optimizers.baseline import BaselineConfig, ZeroShotBaseline
from promptopt.prompt import Prompt


@dataclass(frozen=True)
class EvoPromptGAConfig(BaselineConfig):
    """EvoPrompt-GA's settings (spec §9: μ = 10, 10 children per generation)."""

    offspring: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        from promptopt import bounds

        bounds.check(self, ("offspring",))

    @classmethod
    def _min_population(cls) -> int:
        return 2  # two distinct parents


@dataclass(frozen=True)
class EvoPromptDEConfig(BaselineConfig):
    """EvoPrompt-DE's settings (μ = 10; one trial per member and generation)."""

    @classmethod
    def _min_population(cls) -> int:
        return 3  # the current member and two other donors


class EvoPromptGA(ZeroShotBaseline):
    """EvoPrompt's genetic algorithm with roulette-wheel parent selection."""

    name = "evoprompt-ga"
    config_type = EvoPromptGAConfig
    config: EvoPromptGAConfig
    proposal_kind = "ga"

    def _proposals_per_generation(self, population: int) -> int:
        return self.config.offspring

    def _pick_parents(self) -> list[tuple[str, str]]:
        from promptopt.operators import roulette_pick

        members = list(self.population)
        weights = [self._score(c) for c in members]
        pairs = []
        for _ in range(self.config.offspring):
            first = roulette_pick(weights, self.rng.random())
            second = roulette_pick(weights, self.rng.random(), exclude=first)
            pairs.append((members[first], members[second]))
        return pairs

    async def step(self) -> int:
        from promptopt.operators import evolve_ga

        cfg = self.config
        pairs = self._pick_parents()[: self._affordable(cfg.offspring)]
        self._record("parents", generation=self.generation, pairs=[list(p) for p in pairs])
        instruction = {c: self.candidates[c].prompt.instruction for c in self.population}
        results = await evolve_ga(
            self.meta,
            self.task.description,
            [(instruction[a], instruction[b]) for a, b in pairs],
            sampling=cfg.meta_sampling,
            first_sample=2 * cfg.offspring * (self.generation - 1),
            guard=self.instruction_guard(),
        )
        self._note_proposals("ga", results)
        children = await self._add_scored([Prompt(r.text) for r in results], "ga", list(pairs))
        self.population = self._rank(self.population + children)[: cfg.population]
        self._record_population()
        return len(children)


class EvoPromptDE(ZeroShotBaseline):
    """EvoPrompt's differential evolution: one trial per member, kept when it scores higher."""

    name = "evoprompt-de"
    config_type = EvoPromptDEConfig
    config: EvoPromptDEConfig
    proposal_kind = "de"

    def _proposals_per_generation(self, population: int) -> int:
        return population  # one trial per member

    async def step(self) -> int:
        from promptopt.operators import evolve_de

        members = list(self.population)
        best = members[0]
        jobs = []
        for current in members:
            donor_a, donor_b = self.rng.sample([c for c in members if c != current], 2)
            jobs.append((donor_a, donor_b, best, current))
        jobs = jobs[: self._affordable(len(jobs))]  # members without a trial survive as they are
        text = {c: self.candidates[c].prompt.instruction for c in members}
        results = await evolve_de(
            self.meta,
            self.task.description,
            [tuple(text[c] for c in job) for job in jobs],  # type: ignore[misc]
            sampling=self.config.meta_sampling,
            first_sample=2 * len(members) * (self.generation - 1),
            guard=self.instruction_guard(),
        )
        self._note_proposals("de", results)
        trials = [Prompt(r.text) for r in results]
        registered = await self._add_scored(trials, "de", jobs)
        new = set(registered)
        survivors = list(members)
        for index, (trial, (_, _, _, current)) in enumerate(zip(trials, jobs)):
            # a trial that duplicates an earlier candidate was not registered; one that two
            # members produced replaces only the first of them
            if trial.hash not in new:
                continue
            new.discard(trial.hash)
            if self._score(trial.hash) > self._score(current):
                survivors[index] = trial.hash
                self._record(
                    "replacement",
                    generation=self.generation,
                    current=current,
                    trial=trial.hash,
                    scores=[round(self._score(current), 6), round(self._score(trial.hash), 6)],
                )
        self.population = self._rank(survivors)
        self._record_population()
        return len(registered)
