"""Scripted agents act through the same action strings an LLM would use."""

from __future__ import annotations

import pytest
from promptopt.planners.environments import HouseholdConfig, TransportConfig, TransportEnv
from promptopt.planners.scripted import make_team, run_episode, team_config


def test_every_team_runs_and_only_takes_valid_actions() -> None:
    for team in ("random", "greedy", "greedy-pair", "claims", "oracle", "greedy-nocontainers"):
        r = run_episode(TransportConfig(), team, 2)
        assert 0.0 <= r.transport_rate <= 1.0
        assert r.decisions > 0


def test_scripted_agents_rarely_fail() -> None:
    env = TransportEnv(team_config("claims", TransportConfig()))
    run_episode(env, "claims", 4)
    failed = [e for e in env.events if e.kind == "failed"]
    assert all("took it first" in e.reason or "not in the" in e.reason for e in failed), failed


def test_greedy_uses_containers_and_ablation_does_not() -> None:
    with_c = run_episode(TransportConfig(containers="enough"), "greedy", 8)
    without = run_episode(TransportConfig(containers="enough"), "greedy-nocontainers", 8)
    assert max(with_c.stats["bed_trips"]) > 2
    assert max(without.stats["bed_trips"]) <= 2


def test_claims_team_talks_and_avoids_duplicate_work() -> None:
    claims = [run_episode(TransportConfig(), "claims", s) for s in range(10)]
    pair = [run_episode(TransportConfig(), "greedy-pair", s) for s in range(10)]
    assert all(r.stats["messages"] > 0 for r in claims)
    assert sum(r.stats["rooms_explored_twice"] for r in claims) < sum(r.stats["rooms_explored_twice"] for r in pair)


def test_oracle_needs_full_information_config() -> None:
    assert team_config("oracle", TransportConfig()).omniscient
    assert team_config("greedy", TransportConfig()).n_agents == 1
    with pytest.raises(ValueError, match="unknown team"):
        make_team("wizards", TransportEnv(), 0)


def test_household_teams_finish_or_report_horizon() -> None:
    for team in ("greedy", "greedy-pair"):
        r = run_episode(HouseholdConfig(), team, 1)
        assert 0 < r.steps <= 250
        assert r.stats["finished"] == (r.steps < 250 or r.stats["finished"])
    r = run_episode(HouseholdConfig(horizon=5), "greedy", 1)
    assert r.steps == 5 and not r.stats["finished"]
