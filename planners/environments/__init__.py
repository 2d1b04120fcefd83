"""Text environments for cooperative planning: a small protocol, two worlds, scripted teams,
frozen suites, metrics and a bench function.

Import as ``promptopt.planners.environments``.
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
from .house import House, make_house
from .household import HouseholdConfig, HouseholdEnv, HouseholdGreedy, HouseholdView
from .household_agents import (
    HOUSEHOLD_TEAM_SPECS,
    HouseholdClaims,
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
from .protocol import Environment, Event, Observation, StepResult, View, event_log_hash
from .driver import EpisodeResult, run_episode, team_config
from .suites import SUITES, EpisodeSpec, Suite, generate_suite, load_suite
from .transport import TransportConfig, TransportEnv, TransportView

__all__ = [
    "BENCH_AGENTS",
    "HOUSEHOLD_TEAM_SPECS",
    "SUITES",
    "TEAMS",
    "Agent",
    "AgentSummary",
    "BenchResult",
    "ClaimsAgent",
    "Environment",
    "EpisodeResult",
    "EpisodeSpec",
    "Event",
    "GreedyAgent",
    "House",
    "HouseholdClaims",
    "HouseholdConfig",
    "HouseholdEnv",
    "HouseholdGreedy",
    "HouseholdOracleTeam",
    "HouseholdView",
    "Observation",
    "OracleTeam",
    "RandomAgent",
    "StepResult",
    "Suite",
    "TransportConfig",
    "TransportEnv",
    "TransportView",
    "View",
    "anytime_area",
    "anytime_rates",
    "bench",
    "diagnostics",
    "efficiency_improvement",
    "event_log_hash",
    "generate_suite",
    "household_team_config",
    "load_suite",
    "make_house",
    "make_household_team",
    "make_team",
    "paired_comparison",
    "run_episode",
    "team_config",
]
