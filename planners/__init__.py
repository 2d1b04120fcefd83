"""Cooperative meta-plan loop, agents and text environments.

Installed as ``promptopt.planners``; import it only under that name::

    from promptopt.planners import PlannerConfig, run_planner_episode
    record = await run_planner_episode(spec, PlannerConfig(agents="capo"), client, seed=0)

Public names are imported on first use, so ``promptopt --help`` stays fast.
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.planners.adaptation": ("ProgressEvent",),
    "promptopt.planners.capo_team": ("CapoTeam",),
    "promptopt.planners.coela": ("CoelaAgent",),
    "promptopt.planners.config": ("PlannerConfig",),
    "promptopt.planners.costs": ("CostBook",),
    "promptopt.planners.discussion": ("DiscussionLimits", "DiscussionResult", "discuss"),
    "promptopt.planners.episode": ("run_planner_episode",),
    "promptopt.planners.execution": ("PlanExecutor", "parse_choice"),
    "promptopt.planners.llmcall": ("ModuleLLM",),
    "promptopt.planners.metaplan": ("Critique", "MetaPlan", "Subtask", "parse_critique", "parse_metaplan"),
    "promptopt.planners.suite_run": ("run_suite",),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
