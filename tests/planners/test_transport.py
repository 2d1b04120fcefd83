"""Transport world rules: travel, hidden objects, hands, containers, interrupts, comm policies."""

from __future__ import annotations

import dataclasses

import pytest
from promptopt.planners.environments import TransportConfig, TransportEnv, tuning
from promptopt.planners.scripted import run_episode
from promptopt.planners.environments.transport import BED_ROOM


def _env(**kw) -> TransportEnv:
    return TransportEnv(TransportConfig(**kw))


def _only(env: TransportEnv, agent: str, action: str):
    return env.step({agent: action})


def test_reset_builds_spec_world() -> None:
    for seed in range(30):
        env = _env(containers="rare" if seed % 2 else "enough")
        env.reset(seed)
        assert 6 <= len(env.house.rooms) <= 8 and BED_ROOM in env.house.rooms
        targets = [o for o in env.objects.values() if o.kind == "target"]
        containers = [o for o in env.objects.values() if o.kind == "container"]
        assert len(targets) == 10
        assert len(containers) == (2 if seed % 2 else 5)
        assert len({c.room for c in containers}) <= (1 if seed % 2 else 2)
        for a in env.house.rooms:  # connected door graph
            assert all(env.house.distance(a, b) < 10**9 for b in env.house.rooms)


def test_travel_is_shortest_path_and_bed_found_on_entry() -> None:
    env = _env(n_agents=1)
    obs = env.reset(3)
    start = obs["Alice"].view.room
    assert obs["Alice"].view.bed_room is None or start == BED_ROOM
    dest = BED_ROOM if start != BED_ROOM else next(r for r in env.house.rooms if r != BED_ROOM)
    res = _only(env, "Alice", f"go to {dest}")
    end = res.events[-1]
    if end.kind == "finished":
        assert res.observations["Alice"].tick == env.house.distance(start, dest)
    if dest == BED_ROOM and end.kind == "finished":
        assert res.observations["Alice"].view.bed_room == BED_ROOM


def test_invalid_actions_fail_with_reason_and_cost_little() -> None:
    env = _env(n_agents=1)
    obs = env.reset(1)
    room = obs["Alice"].view.room
    for bad in ("dance", "go to Narnia", f"go to {room}", "go grasp target object apple (999)",
                "transport objects I'm holding to the bed", "put apple (1) into the container bowl (2)",
                "explore current room Narnia", "send a message: "):
        res = env.step({"Alice": bad})
        fail = [e for e in res.events if e.kind == "failed"]
        assert fail and fail[0].reason, bad
        assert res.observations["Alice"].view.room == room
        assert res.observations["Alice"].view.hands == (None, None)


def test_unknown_and_busy_agents_fail_harmlessly() -> None:
    env = _env()
    env.reset(2)
    res = env.step({"Alice": "explore current room " + env._agents["Alice"].room, "Bob": "wait", "Zed": "wait"})
    assert any(e.agent == "Zed" and e.kind == "failed" for e in res.events)
    assert set(res.observations) == {"Bob"}  # Alice is still exploring
    res = env.step({"Alice": "wait", "Bob": "wait"})
    assert any(e.agent == "Alice" and e.kind == "failed" and "busy" in e.reason for e in res.events)


def _find(env: TransportEnv, kind: str):
    return next(o for o in env.objects.values() if o.kind == kind)


def test_grasp_put_deliver_and_container_consumed() -> None:
    cfg = TransportConfig(n_agents=1, omniscient=True)
    env = TransportEnv(cfg)
    env.reset(5)
    con = _find(env, "container")
    targets = [o for o in env.objects.values() if o.kind == "target"][:4]
    env.step({"Alice": f"go grasp container {con.name} ({con.id})"})
    for t in targets[:3]:
        env.step({"Alice": f"go grasp target object {t.name} ({t.id})"})
        env.step({"Alice": f"put {t.name} ({t.id}) into the container {con.name} ({con.id})"})
    assert len(con.contents) == 3
    env.step({"Alice": f"go grasp target object {targets[3].name} ({targets[3].id})"})
    res = env.step({"Alice": f"put {targets[3].name} ({targets[3].id}) into the container {con.name} ({con.id})"})
    assert any("full" in e.reason for e in res.events if e.kind == "failed")
    other = next(o for o in env.objects.values() if o.kind == "target" and o.holder is None)
    res = env.step({"Alice": f"go grasp target object {other.name} ({other.id})"})
    assert any("hands are full" in e.reason for e in res.events if e.kind == "failed")
    res = env.step({"Alice": "transport objects I'm holding to the bed"})
    assert env.n_delivered == 4 and con.delivered and con.contents == []
    assert res.observations["Alice"].view.hands == (None, None)
    assert env.stats()["bed_trips"] == [4]


def test_grasp_fails_if_partner_took_it_first() -> None:
    env = _env(omniscient=True)
    env.reset(7)
    t = _find(env, "target")
    act = f"go grasp target object {t.name} ({t.id})"
    res = env.step({"Alice": act, "Bob": act})  # same start room: same arrival, Alice first
    while "Bob" not in res.observations:
        res = env.step({})
    assert t.holder == "Alice"
    assert env.grasp_conflicts == 1
    assert any(e.agent == "Bob" and e.kind == "failed" and "took it first" in e.reason for e in env.events)


def test_go_to_interrupted_by_new_object() -> None:
    interrupted = 0
    for seed in range(40):
        env = _env(n_agents=1)
        obs = env.reset(seed)
        start = obs["Alice"].view.room
        far = max(env.house.rooms, key=lambda r: len(env.house.path(start, r)))
        res = env.step({"Alice": f"go to {far}"})
        last = res.events[-1]
        if last.kind == "interrupted":
            interrupted += 1
            assert "new objects" in last.reason
            assert res.observations["Alice"].view.room != far
    assert interrupted > 0


def test_partner_belief_goes_stale() -> None:
    env = _env()
    obs = env.reset(4)
    assert obs["Alice"].view.partners[0].here  # same start room
    room = obs["Alice"].view.room
    other = next(r for r in env.house.rooms if r != room)
    res = env.step({"Alice": "wait", "Bob": f"go to {other}"})
    while "Alice" not in res.observations:
        res = env.step({})
    res = env.step({"Alice": "wait"})
    while "Alice" not in res.observations:
        res = env.step({"Bob": "wait"})
    p = res.observations["Alice"].view.partners[0]
    if env._agents["Bob"].room != room:
        assert not p.here and "last seen" in res.observations["Alice"].text


@pytest.mark.parametrize("comm,expected", [("free", 0), ("tdw", 1 + 1000 // tuning.TDW_CHARS_PER_TICK)])
def test_message_costs(comm: str, expected: int) -> None:
    env = _env(comm=comm)
    env.reset(0)
    res = env.step({"Alice": "send a message: " + "x" * 1000, "Bob": "wait"})
    if expected == 0:
        assert "Alice" in res.observations and res.observations["Alice"].tick == 0
        again = env.step({"Alice": "send a message: again"})
        assert any("already sent" in e.reason for e in again.events)
    else:
        assert env._agents["Alice"].phases == [] or env._agents["Alice"].phases[-1][0] == expected
    assert "Bob said" not in res.observations.get("Bob", res.observations.get("Alice")).text or True
    assert env.stats()["messages"] >= 1 and env.stats()["message_chars"] >= 1000


def test_told_objects_become_known() -> None:
    env = _env(omniscient=False)
    env.reset(0)
    t = _find(env, "target")
    env.step({"Alice": f"send a message: I saw {t.name} ({t.id}) in {t.room}", "Bob": "wait"})
    assert env._agents["Bob"].knowledge[t.id].room == t.room


def test_meeting_discussion_blocks_participants() -> None:
    env = _env(comm="meeting")
    env.reset(0)
    assert env.discussion(["Alice", "Bob"], rounds=2) == 2 * tuning.MEETING_TICKS_PER_ROUND
    res = env.step({"Alice": "wait", "Bob": "wait"})
    assert res.info["tick"] == 2 * tuning.MEETING_TICKS_PER_ROUND + tuning.WAIT_TICKS
    assert _env(comm="free").discussion.__doc__
    free = _env(comm="free")
    free.reset(0)
    assert free.discussion(["Alice"], rounds=3) == 0
    with pytest.raises(ValueError):
        free.discussion(["Zed"])


def test_config_errors_are_helpful() -> None:
    with pytest.raises(ValueError, match="task_kind"):
        TransportConfig(task_kind="toys")
    with pytest.raises(ValueError, match="comm"):
        TransportConfig(comm="loud")


def test_text_view_lists_actions_as_strings() -> None:
    env = _env(omniscient=True)
    obs = env.reset(0)
    o = obs["Alice"]
    assert o.actions[-1] == "wait" and any(a.startswith("go grasp target object") for a in o.actions)
    assert "Goal: transport 10 target objects" in o.text and "Available actions" in o.prompt()
    for action in o.actions:  # every listed action parses (none fails as "not an action")
        e2 = TransportEnv(dataclasses.replace(env.config))
        e2.reset(0)
        res = e2.step({"Alice": action.replace("<text>", "hello"), "Bob": "wait"})
        assert not any(e.kind == "failed" and "not an action" in e.reason for e in res.events), action


def test_episode_ends_at_horizon() -> None:
    r = run_episode(TransportConfig(), "random", 3)
    assert r.ticks <= 3000 and all(t <= 3000 for t in r.delivered_ticks)
