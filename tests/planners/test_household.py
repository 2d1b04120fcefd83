"""Household world: being told, stale beliefs corrected by looking, and the scripted team ladder."""

from __future__ import annotations

import pytest
from promptopt.planners.environments import HouseholdConfig, HouseholdEnv
from promptopt.planners.scripted import household_team_config, make_household_team, run_episode


def _item(env: HouseholdEnv, kind: str = "item"):
    return next(o for o in env.items.values() if o.kind == kind and o.inside is None)


def test_told_items_become_known_where_the_message_says() -> None:
    env = HouseholdEnv(HouseholdConfig(n_agents=2))
    env.reset(4)
    o = _item(env)
    env._agents["Bob"].known.pop(o.id, None)
    env.step({"Alice": f"send a message: I saw {o.name} ({o.id}) in {o.room}", "Bob": "wait"})
    assert env._agents["Bob"].known[o.id].room == o.room
    res = env.step({"Alice": "wait"})
    assert f"go grab {o.name} ({o.id})" in res.observations["Bob"].actions
    # a made-up id teaches nothing
    env.step({"Alice": "send a message: juice (9999) in Kitchen", "Bob": "wait"})
    assert 9999 not in env._agents["Bob"].known


def test_failed_grab_forgets_where_the_item_was() -> None:
    env = HouseholdEnv(HouseholdConfig(n_agents=2, omniscient=True))
    env.reset(7)
    o = _item(env)
    grab = f"go grab {o.name} ({o.id})"
    res = env.step({"Alice": grab, "Bob": grab})  # same start room: Alice is first, Bob finds it gone
    while "Bob" not in res.observations:
        res = env.step({})
    assert o.holder == "Alice"
    failed = [e for e in env.events if e.agent == "Bob" and e.kind == "failed"]
    assert failed and "not here any more" in failed[0].reason
    plain = HouseholdEnv(HouseholdConfig(n_agents=2))  # without full information the belief stays corrected
    plain.reset(7)
    p = plain.items[o.id]
    for ag in plain._agents.values():
        plain._remember(ag, p.id)
    res = plain.step({"Alice": grab, "Bob": grab})
    while "Bob" not in res.observations:
        res = plain.step({})
    bob = res.observations["Bob"]
    assert bob.view.obj(o.id).room is None and grab not in bob.actions


@pytest.mark.parametrize("team", ["random", "greedy", "greedy-pair", "claims", "oracle"])
def test_every_household_team_runs_with_valid_actions(team: str) -> None:
    env = HouseholdEnv(household_team_config(team, HouseholdConfig()))
    r = run_episode(env, make_household_team(team, env, 2), 2)
    assert 0 < r.steps <= 250
    if team != "random":
        assert r.stats["finished"]
        failed = [e for e in env.events if e.kind == "failed"]
        assert all("not here any more" in e.reason for e in failed), failed


def test_claims_pair_talks_and_splits_the_work() -> None:
    claims = [run_episode(HouseholdConfig(), "claims", s) for s in range(8)]
    pair = [run_episode(HouseholdConfig(), "greedy-pair", s) for s in range(8)]
    assert all(r.stats["messages"] > 0 for r in claims)
    assert all(r.stats["messages"] == 0 for r in pair)
    assert sum(r.steps for r in claims) < sum(r.steps for r in pair)


def test_household_team_configs() -> None:
    assert household_team_config("oracle", HouseholdConfig()).omniscient
    assert household_team_config("greedy", HouseholdConfig()).n_agents == 1
    with pytest.raises(ValueError, match="unknown household team"):
        household_team_config("wizards", HouseholdConfig())
    with pytest.raises(ValueError, match="unknown household team 'greedy-nocontainers'; choose one of random"):
        run_episode(HouseholdConfig(), "greedy-nocontainers", 0)
