"""Settings of an LLM team run, including the ablation switches of the CaPo loop.

Ablations (spec §1): ``plan only`` (a designer's plan, no critique, no adaptation), ``+ discussion``
(critique rounds), ``+ adaptation`` (the full loop); the round budget; the number of agents.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptopt import records

__all__ = ["LLM_TEAMS", "VARIANTS", "PlannerConfig"]

LLM_TEAMS = ("capo", "coela")
#: Ablation presets: name -> (discussion, adaptation).
VARIANTS = {"plan-only": (False, False), "discussion": (True, False), "full": (True, True)}


@dataclass(frozen=True)
class PlannerConfig(records.Record):
    """Everything that decides what an LLM team does (the run directory stores it for --resume)."""

    agents: str = "capo"  # capo | coela | a scripted team name
    n_agents: int = 2
    comm: str = "free"
    discussion: bool = True
    adaptation: bool = True
    rounds: int = 3
    designer: str = "first"  # first | random (seeded)
    debounce_ticks: int = 200
    max_replans: int = 5
    step_patience: int = 3
    max_llm_calls: int | None = None  # per episode; then plan steps still run, other decisions wait
    plan_tokens: int = 400
    critique_tokens: int = 160
    act_tokens: int = 16
    message_tokens: int = 48
    temperature: records.Number = 0.0
    keep_prompts: bool = True

    def __post_init__(self) -> None:
        if self.comm not in ("free", "tdw", "meeting"):
            raise ValueError(f"comm must be free, tdw or meeting, got {self.comm!r}")
        if self.rounds < 0:
            raise ValueError(f"rounds must be >= 0, got {self.rounds}")
        if self.designer not in ("first", "random"):
            raise ValueError(f"designer must be 'first' or 'random', got {self.designer!r}")
        if self.max_llm_calls is not None and self.max_llm_calls < 0:
            raise ValueError(f"max_llm_calls must be >= 0, got {self.max_llm_calls}")
        for name in ("debounce_ticks", "max_replans", "step_patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("plan_tokens", "critique_tokens", "act_tokens", "message_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def uses_llm(self) -> bool:
        return self.agents in LLM_TEAMS

    @property
    def variant(self) -> str:
        """The ablation this config is: plan-only, discussion or full (CaPo only)."""
        if self.agents != "capo":
            return self.agents
        if not self.discussion:
            return "plan-only" if not self.adaptation else "plan+adaptation"
        return f"{'full' if self.adaptation else 'discussion'}-r{self.rounds}"

    @property
    def label(self) -> str:
        """Row name in the summary table, e.g. ``capo:full-r3:2a``."""
        base = self.variant if self.agents != "capo" else f"capo:{self.variant}"
        return f"{base}:{self.n_agents}a" if self.uses_llm else base

