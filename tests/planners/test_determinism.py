"""Every episode is a pure function of its seed and the actions: equal event-log hashes."""

from __future__ import annotations

import random

from promptopt.planners.environments import HouseholdConfig, TransportConfig, TransportEnv
from promptopt.planners.scripted import run_episode


def _random_actions_episode(seed: int, action_seed: int) -> str:
    env = TransportEnv(TransportConfig())
    obs = env.reset(seed)
    rng = random.Random(action_seed)
    while obs:
        res = env.step({a: rng.choice(o.actions).replace("<text>", "hello") for a, o in obs.items()})
        obs = res.observations
    return env.event_hash()


def test_same_seed_same_actions_same_log() -> None:
    assert _random_actions_episode(11, 1) == _random_actions_episode(11, 1)
    assert _random_actions_episode(11, 1) != _random_actions_episode(12, 1)


def test_scripted_teams_are_deterministic() -> None:
    for team in ("greedy", "greedy-pair", "claims", "oracle", "random"):
        a = run_episode(TransportConfig(containers="rare"), team, 5)
        b = run_episode(TransportConfig(containers="rare"), team, 5)
        assert a.event_hash == b.event_hash and a.delivered_ticks == b.delivered_ticks
    for team in ("greedy-pair", "claims", "oracle", "random"):
        h1 = run_episode(HouseholdConfig(), team, 3)
        h2 = run_episode(HouseholdConfig(), team, 3)
        assert h1.event_hash == h2.event_hash and h1.steps == h2.steps


def test_env_hash_matches_runner_hash() -> None:
    env = TransportEnv(TransportConfig(n_agents=1))
    r = run_episode(env, "greedy", 9)
    assert r.event_hash == env.event_hash()


def test_reset_replays_exactly() -> None:
    env = TransportEnv(TransportConfig())
    first = env.reset(21)["Alice"].text
    env.step({"Alice": "wait", "Bob": "wait"})
    assert env.reset(21)["Alice"].text == first
