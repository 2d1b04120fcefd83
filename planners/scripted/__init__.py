"""Scripted teams for the text worlds, the loop that drives one episode, episode metrics, the
scripted bench and the calibration of the worlds' tuned constants.

They play in :mod:`promptopt.planners.environments` and calibrate how hard an episode is; the
LLM teams (CaPo, CoELA-style) are measured against them. Import as ``promptopt.planners.scripted``.
"""

from .agents import (
    TEAMS,
    Agent,
    ClaimsAgent,
    GreedyAgent,
    OracleTeam,
    RandomAgent,
    make_team,
)
from .bench import BENCH_AGENTS, AgentSummary, BenchResult, bench
from .driver import EpisodeResult, run_episode, team_config
from .household_agents import (
    HOUSEHOLD_TEAM_SPECS,
    HouseholdClaims,
    HouseholdGreedy,
    HouseholdOracleTeam,
    household_team_config,
    make_household_team,
)
from .metrics import (
    anytime_area,
    anytime_rates,
    diagnostics,
    efficiency_improvement,
    paired_comparison,
)

__all__ = [
    "Agent",
    "AgentSummary",
    "BENCH_AGENTS",
    "BenchResult",
    "ClaimsAgent",
    "EpisodeResult",
    "GreedyAgent",
    "HOUSEHOLD_TEAM_SPECS",
    "HouseholdClaims",
    "HouseholdGreedy",
    "HouseholdOracleTeam",
    "OracleTeam",
    "RandomAgent",
    "TEAMS",
    "anytime_area",
    "anytime_rates",
    "bench",
    "diagnostics",
    "efficiency_improvement",
    "household_team_config",
    "make_household_team",
    "make_team",
    "paired_comparison",
    "run_episode",
    "team_config",
]
