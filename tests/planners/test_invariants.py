"""Property-based invariants of the transport and household worlds under arbitrary action sequences."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from promptopt.planners.environments import (
    HouseholdConfig,
    HouseholdEnv,
    TransportConfig,
    TransportEnv,
)
from promptopt.planners.environments.transport import CONTAINER_CAPACITY, TARGET_NAMES

NAMES = sorted({n for v in TARGET_NAMES.values() for n in v} | {"bowl", "basket", "plate"})
ROOMS = ["Kitchen", "Bedroom", "Office", "Narnia", "Porch"]

impossible = st.one_of(
    st.builds(lambda n, i: f"go grasp target object {n} ({i})", st.sampled_from(NAMES), st.integers(0, 120)),
    st.builds(lambda n, i: f"go grasp container {n} ({i})", st.sampled_from(NAMES), st.integers(0, 120)),
    st.builds(lambda a, i, b, j: f"put {a} ({i}) into the container {b} ({j})", st.sampled_from(NAMES),
              st.integers(0, 120), st.sampled_from(NAMES), st.integers(0, 120)),
    st.builds(lambda r: f"go to {r}", st.sampled_from(ROOMS)),
    st.builds(lambda r: f"explore current room {r}", st.sampled_from(ROOMS)),
    st.just("transport objects I'm holding to the bed"),
    st.just("send a message: "),
)
garbage = st.one_of(st.text(max_size=30), st.just(""), st.just("wait"))


def _choice(data, obs) -> str:
    kind = data.draw(st.integers(0, 5))
    if kind <= 2 and obs.actions:
        return data.draw(st.sampled_from(obs.actions)).replace("<text>", "hi (3) in Kitchen")
    if kind <= 4:
        return data.draw(impossible)
    return data.draw(garbage)


def _snapshot(env: TransportEnv):
    objs = tuple((o.id, o.room, o.holder, o.inside, o.delivered, tuple(o.contents)) for o in env.objects.values())
    ags = tuple((a.name, a.room, tuple(a.hands)) for a in env._agents.values())
    return objs, ags


def _check(env: TransportEnv) -> None:
    ids = [i for _, i, _ in env.delivered]
    assert len(ids) == len(set(ids)), "an object was delivered twice"
    held: list[int] = []
    for ag in env._agents.values():
        assert len(ag.hands) == 2
        for h in ag.hands:
            if h is not None:
                held.append(h)
                assert env.objects[h].holder == ag.name and not env.objects[h].delivered
    assert len(held) == len(set(held)), "an object is in two hands"
    for o in env.objects.values():
        assert len(o.contents) <= CONTAINER_CAPACITY
        for c in o.contents:
            assert env.objects[c].inside == o.id
        located = [o.room is not None, o.holder is not None, o.delivered]
        assert sum(located) == 1 or (o.delivered and o.kind == "container"), o
    for t in (o for o in env.objects.values() if o.delivered and o.kind == "target"):
        assert t.id in ids


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n_agents=st.integers(1, 2), omniscient=st.booleans(),
       comm=st.sampled_from(["free", "tdw", "meeting"]), data=st.data())
def test_transport_invariants(seed: int, n_agents: int, omniscient: bool, comm: str, data) -> None:
    env = TransportEnv(TransportConfig(n_agents=n_agents, omniscient=omniscient, comm=comm, horizon=1500))
    obs = env.reset(seed)
    last_tick = 0
    for _ in range(40):
        if not obs:
            break
        actions = {a: _choice(data, o) for a, o in obs.items()}
        before = _snapshot(env)
        start = len(env.events)
        res = env.step(actions)
        started = env.events[start:]
        # with one agent, an action that could not start changes nothing in the world
        if n_agents == 1 and started and started[0].kind == "failed":
            objs_b, ags_b = before
            objs_a, ags_a = _snapshot(env)
            assert objs_a == objs_b and ags_a == ags_b
        for e in res.events:
            if e.kind in ("failed", "interrupted"):
                assert e.reason, e
            assert e.tick >= last_tick or e.kind == "failed"
        assert env.tick >= last_tick, "time went backwards"
        last_tick = env.tick
        _check(env)
        obs = res.observations
        if res.done:
            assert not obs
            break


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), data=st.data())
def test_household_invariants(seed: int, data) -> None:
    env = HouseholdEnv(HouseholdConfig())
    obs = env.reset(seed)
    last = 0
    for _ in range(40):
        if not obs:
            break
        actions = {}
        for a, o in obs.items():
            k = data.draw(st.integers(0, 3))
            actions[a] = (data.draw(st.sampled_from(o.actions)) if k < 3 else data.draw(garbage)).replace("<text>", "hi")
        res = env.step(actions)
        assert env.tick >= last
        last = env.tick
        held = [h for ag in env._agents.values() for h in ag.hands if h is not None]
        assert len(held) == len(set(held))
        for h in held:
            assert env.items[h].holder is not None
        for e in res.events:
            if e.kind == "failed":
                assert e.reason
        obs = res.observations
