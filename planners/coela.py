"""The CoELA-style baseline: no meta-plan; at every decision the model picks an action or a message.

This is the reference the CaPo loop is compared with: the same world, the same action parsing and
the same cost accounting, only without the discussion and the plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from promptopt.planners.environments import Observation

from .acting import ActLimits, choose_action
from .llmcall import ModuleLLM
from .prompts import coela_prompt

__all__ = ["CoelaAgent"]


class CoelaAgent:
    """One baseline agent; ``decide`` is asked whenever the agent is idle."""

    def __init__(self, name: str, team: Sequence[str], llm: ModuleLLM, limits: ActLimits) -> None:
        self.name, self.team, self.llm, self.limits = name, tuple(team), llm, limits

    async def decide(self, obs: Observation) -> str:
        prompt = coela_prompt(self.name, self.team, obs.text, obs.actions)
        return await choose_action(self.llm, self.name, self.team, obs, prompt, self.limits)
