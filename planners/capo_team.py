"""The CaPo team: plan together before acting, then execute and adapt the plan on progress.

Phase 1: the designer drafts a meta-plan and the discussion refines it. Phase 2: each idle agent
follows its own subtask (plan steps that are available actions run without a model call); progress
events are collected and, debounced and capped, trigger an adaptation designed by the agent that
made the progress. Every discussion is charged to the world under its communication policy.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from typing import Any

from promptopt.planners.environments import Environment, Event, Observation

from .acting import ActLimits, choose_action
from .adaptation import AdaptationSchedule, ProgressEvent, ProgressMonitor
from .config import PlannerConfig
from .discussion import DiscussionLimits, DiscussionResult, discuss
from .execution import PlanExecutor
from .llmcall import ModuleLLM
from .metaplan import MetaPlan
from .prompts import act_prompt

__all__ = ["CapoTeam"]


class CapoTeam:
    """All agents of one CaPo team in one episode (they share the plan)."""

    def __init__(self, env: Environment, llm: ModuleLLM, config: PlannerConfig, seed: int) -> None:
        self.env, self.llm, self.config = env, llm, config
        self.team: tuple[str, ...] = tuple(env.agents)
        self.limits = DiscussionLimits(config.rounds if config.discussion else 0, config.plan_tokens,
                                       config.critique_tokens)
        self.act_limits = ActLimits(config.act_tokens, config.message_tokens)
        self.executors = {a: PlanExecutor(a, config.step_patience) for a in self.team}
        self.monitor = ProgressMonitor()
        self.schedule = AdaptationSchedule(self.team, config.debounce_ticks, config.max_replans)
        self.designer = self.team[0] if config.designer == "first" else random.Random(seed).choice(self.team)
        self.plan = MetaPlan(())
        self.last_obs: dict[str, Observation] = {}
        self.history: list[dict[str, Any]] = []
        self.progress_log: list[dict[str, Any]] = []

    # -------------------------------------------------------------- phase 1
    async def start(self, observations: Mapping[str, Observation]) -> None:
        self.last_obs.update(observations)
        self.monitor.prime(list(observations.values()))
        result = await discuss(self.llm, designer=self.designer, team=self.team, views=self.last_obs,
                               limits=self.limits)
        self._adopt(result, "draft", self.designer, ())

    def _adopt(self, result: DiscussionResult, module: str, designer: str,
               trigger: Sequence[ProgressEvent]) -> None:
        self.plan = result.plan
        ticks = 0
        charge = getattr(self.env, "discussion", None)
        if charge is not None:
            ticks = charge(self.team, max(1, result.rounds), result.characters)
        self.llm.costs.modules[module].env_ticks += ticks * len(self.team)
        tick = min((o.tick for o in self.last_obs.values()), default=0)
        self.history.append({"tick": tick, "module": module, "designer": designer,
                             "trigger": [e.to_dict() for e in trigger], "ticks_charged": ticks,
                             **result.to_dict()})

    # -------------------------------------------------------------- phase 2
    async def decide_all(self, observations: Mapping[str, Observation],
                         events: Mapping[str, Sequence[Event]]) -> dict[str, str]:
        """Actions of the idle agents; may adapt the plan first."""
        self.last_obs.update(observations)
        tick = min(o.tick for o in observations.values())
        found: list[ProgressEvent] = []
        for a, obs in observations.items():
            self.plan, done = self.executors[a].settle(self.plan, events.get(a, ()), tick)
            found += done + self.monitor.observe(obs)
        self._note(found)
        if self.config.adaptation and self.schedule.due(tick) and self.llm.affordable():
            designer, trigger = self.schedule.take(tick)
            result = await discuss(self.llm, designer=designer, team=self.team, views=self.last_obs,
                                   limits=self.limits, current=self.plan, progress=[e.line() for e in trigger])
            self._adopt(result, "adapt", designer, trigger)
        asks: dict[str, Any] = {}
        actions: dict[str, str] = {}
        for a, obs in observations.items():  # plan bookkeeping first, in agent order (no awaits)
            self.plan, subtask, step, action, progress = self.executors[a].next_step(self.plan, obs.actions, tick)
            self._note(progress)
            if action is not None:
                self.llm.costs.decisions["plan"] += 1
                actions[a] = action
            else:
                asks[a] = act_prompt(a, obs.text, obs.actions, self.plan, subtask, step)
        chosen = await asyncio.gather(*(choose_action(self.llm, a, self.team, observations[a], prompt, self.act_limits)
                                        for a, prompt in asks.items()))
        actions.update(zip(asks, chosen))
        return {a: actions[a] for a in observations}

    def _note(self, events: Sequence[ProgressEvent]) -> None:
        if not events:
            return
        self.progress_log += [e.to_dict() for e in events]
        if self.config.adaptation:
            self.schedule.add(events)

    def summary(self) -> dict[str, Any]:
        discussions = self.history
        asked = [h for h in discussions if h["consensus"] is not None]
        return {
            "designer": self.designer,
            "discussions": len(discussions),
            "replans": sum(h["module"] == "adapt" for h in discussions),
            "consensus": sum(bool(h["consensus"]) for h in asked),
            "consensus_asked": len(asked),
            "rounds": sum(h["rounds"] for h in discussions),
            "progress_events": len(self.progress_log),
            "events_dropped_by_cap": self.schedule.dropped,
        }
