"""Cooperative meta-plan loop, agents and text environments.

Installed as ``promptopt.planners``; import it only under that name::

    from promptopt.planners import PlannerConfig, run_planner_episode
    record = await run_planner_episode(spec, PlannerConfig(agents="capo"), client, seed=0)

Public names are imported on first use, so ``promptopt --help`` stays fast.
"""

from __future__ import annotations

from promptopt._lazy import lazy_exports

__all__ = [
    "CapoTeam",
    "CoelaAgent",
    "CostBook",
    "Critique",
    "DiscussionLimits",
    "DiscussionResult",
    "MetaPlan",
    "ModuleLLM",
    "PlanExecutor",
    "PlannerConfig",
    "ProgressEvent",
    "Subtask",
    "discuss",
    "parse_choice",
    "parse_critique",
    "parse_metaplan",
    "run_planner_episode",
    "run_suite",
]

_WHERE = {
    "CapoTeam": "promptopt.planners.capo_team",
    "CoelaAgent": "promptopt.planners.coela",
    "CostBook": "promptopt.planners.costs",
    "Critique": "promptopt.planners.metaplan",
    "DiscussionLimits": "promptopt.planners.discussion",
    "DiscussionResult": "promptopt.planners.discussion",
    "MetaPlan": "promptopt.planners.metaplan",
    "ModuleLLM": "promptopt.planners.llmcall",
    "PlanExecutor": "promptopt.planners.execution",
    "PlannerConfig": "promptopt.planners.config",
    "ProgressEvent": "promptopt.planners.adaptation",
    "Subtask": "promptopt.planners.metaplan",
    "discuss": "promptopt.planners.discussion",
    "parse_choice": "promptopt.planners.execution",
    "parse_critique": "promptopt.planners.metaplan",
    "parse_metaplan": "promptopt.planners.metaplan",
    "run_planner_episode": "promptopt.planners.episode",
    "run_suite": "promptopt.planners.suite_run",
}

__getattr__ = lazy_exports(__name__, _WHERE)
