"""Scripted agents for the transport world: baselines that calibrate how hard an episode is.

Each agent maps an observation to one action string, exactly what an LLM agent would return, so
the same driver runs both. Teams are built by name with :func:`make_team`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from promptopt.planners.environments import tuning
from promptopt.planners.environments.protocol import Observation
from promptopt.planners.environments.transport import (
    BED_ROOM,
    CONTAINER_CAPACITY,
    ObjectView,
    TransportEnv,
    TransportView,
)

__all__ = [
    "TEAMS",
    "Agent",
    "ClaimsAgent",
    "GreedyAgent",
    "OracleTeam",
    "RandomAgent",
    "make_team",
]

#: Deliver when the time left is within this many ticks of the walk to the bed (besides the
#: longest single action the agent might start instead: an exploration plus two doors).
LATE_MARGIN = 30


def _late_margin() -> int:
    return LATE_MARGIN + tuning.EXPLORE_TICKS + 2 * tuning.TICKS_PER_DOOR


#: "Container first if time allows": fetch a container only if, besides the trip to the bed and
#: the late margin, at least this many ticks are left to fill it; otherwise two hands carry as much.
CONTAINER_FILL_TICKS = 500


def _holdings(v: TransportView) -> tuple[ObjectView | None, list[ObjectView], int]:
    """What an agent holds: its container (if any), the targets loose in its hands, and how many
    targets it carries in all."""
    held = [o for o in (v.obj(h) for h in v.hands) if o is not None]
    container = next((o for o in held if o.kind == "container"), None)
    loose = [o for o in held if o.kind == "target"]
    return container, loose, len(loose) + (len(container.contents) if container else 0)


@runtime_checkable
class Agent(Protocol):
    """Anything that picks an action string for an observation (scripted or LLM-backed)."""

    def act(self, observation: Observation) -> str: ...


class RandomAgent:
    """Uniform over the available actions (messages say "hi"): the floor of every table."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def act(self, observation: Observation) -> str:
        action = self.rng.choice(observation.actions)
        return "send a message: hi" if action.startswith("send a message") else action


def _grasp(o: ObjectView) -> str:
    return f"go grasp {'target object' if o.kind == 'target' else 'container'} {o.label}"


class GreedyAgent:
    """Container first if time allows, nearest known target, explore the nearest unexplored room,
    deliver when full or late. ``use_containers=False`` is the ablation that shows containers matter."""

    def __init__(self, seed: int = 0, use_containers: bool = True) -> None:
        self.rng = random.Random(seed)
        self.use_containers = use_containers

    # hooks the cooperative agent overrides
    def allowed(self, v: TransportView, o: ObjectView) -> bool:
        return True

    def rooms_to_explore(self, v: TransportView) -> list[str]:
        return [r for r in v.house.rooms if r not in v.explored]

    def on_grasp(self, v: TransportView, o: ObjectView) -> str:
        return _grasp(o)

    def _nearest(self, v: TransportView, rooms: list[str]) -> str:
        return min(rooms, key=lambda r: (v.house.distance(v.room, r), self.rng.random()))

    def deliver(self, v: TransportView) -> str:
        return "transport objects I'm holding to the bed" if v.bed_room else f"go to {BED_ROOM}"

    def act(self, observation: Observation) -> str:
        v: TransportView = observation.view
        container, loose, carried = _holdings(v)
        if container and loose and len(container.contents) < CONTAINER_CAPACITY:
            return f"put {loose[0].label} into the container {container.label}"
        left = v.horizon - v.tick
        to_bed = v.house.distance(v.room, BED_ROOM) + tuning.DROP_TICKS
        if carried and (v.free_hands == 0 or left <= to_bed + _late_margin()):
            return self.deliver(v)
        if v.free_hands:
            todo = self.rooms_to_explore(v)
            time_allows = left > to_bed + _late_margin() + CONTAINER_FILL_TICKS
            want_container = self.use_containers and container is None and time_allows
            if want_container:
                cons = [o for o in v.available("container") if self.allowed(v, o)]
                if cons:
                    return self.on_grasp(v, min(cons, key=lambda o: (v.house.distance(v.room, o.room), self.rng.random())))
            # keep a hand free for a container we may still find, unless there is nowhere left to look
            if not (want_container and loose and todo):
                targets = [o for o in v.available("target") if self.allowed(v, o)]
                if targets:
                    return self.on_grasp(v, min(targets, key=lambda o: (v.house.distance(v.room, o.room), self.rng.random())))
            if v.room in todo:
                return f"explore current room {v.room}"
            if todo:
                return f"go to {self._nearest(v, todo)}"
        if carried:
            return self.deliver(v)
        return "wait"


_CLAIM = re.compile(r"I claim .*?\((\d+)\)")
_EXPLORED = re.compile(r"I explored (?:the )?([A-Za-z]+)")


class ClaimsAgent(GreedyAgent):
    """Cooperative scripted teammate: rooms are split by assignment, discoveries are shared, and
    an object is claimed by message before it is fetched, so the two never chase the same thing."""

    def __init__(self, index: int, team_size: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.index, self.team_size = index, team_size
        self._pending: str | None = None
        self._reported: set[str] = set()

    def _claims(self, v: TransportView) -> dict[int, str]:
        out: dict[int, str] = {}
        for m in v.messages:
            for sid in _CLAIM.findall(m.text):
                out.setdefault(int(sid), m.sender)
        return out

    def allowed(self, v: TransportView, o: ObjectView) -> bool:
        return self._claims(v).get(o.id, v.agent) == v.agent

    def rooms_to_explore(self, v: TransportView) -> list[str]:
        reported = {r for m in v.messages if m.sender != v.agent for r in _EXPLORED.findall(m.text)}
        todo = [r for r in v.house.rooms if r not in v.explored and r not in reported]
        mine = [r for i, r in enumerate(sorted(v.house.rooms)) if i % self.team_size == self.index and r in todo]
        return mine or todo

    def on_grasp(self, v: TransportView, o: ObjectView) -> str:
        if self._claims(v).get(o.id) == v.agent:
            return _grasp(o)
        self._pending = _grasp(o)
        return f"send a message: I claim {o.label}"

    def act(self, observation: Observation) -> str:
        v: TransportView = observation.view
        e = v.last_event
        if self._pending and e is not None and e.tick == v.tick and e.action.startswith("send a message"):
            action, self._pending = self._pending, None
            return action
        self._pending = None
        report = None
        if v.room in v.explored and v.room not in self._reported:
            self._reported.add(v.room)
            found = [f"{o.label} in {o.room}" for o in v.available("target") + v.available("container")
                     if o.room == v.room and self.allowed(v, o)]
            report = f"I explored {v.room}" + (": found " + "; ".join(found) if found else "")
        action = super().act(observation)
        if report is None:
            return action
        prefix = "send a message: "
        if action.startswith(prefix):  # one message per tick: the claim rides along with the report
            return prefix + report + ". " + action[len(prefix):]
        self._pending = action
        return prefix + report


class SharedTeam:
    """A team whose members share one mind (full-information teams): ``member(name)`` is the
    per-agent view the runner drives; every member's decision is the team's ``act(name, …)``."""

    def member(self, name: str) -> Agent:
        team = self

        class _Member:
            def act(self, observation: Observation) -> str:
                return team.act(name, observation)

        return _Member()

    def act(self, name: str, observation: Observation) -> str:
        raise NotImplementedError


class OracleTeam(SharedTeam):
    """Full information (needs ``omniscient=True``) and a shared capacity-constrained routing
    heuristic: each idle agent takes a container if one is worth it, then the nearest unclaimed
    targets until its hands and container are full, then delivers. The ceiling of every table."""

    def __init__(self, seed: int = 0, use_containers: bool = True) -> None:
        self.rng = random.Random(seed)
        self.use_containers = use_containers
        self.claims: dict[int, str] = {}

    def act(self, name: str, observation: Observation) -> str:
        v: TransportView = observation.view
        d = v.house.distance
        container, loose, carried = _holdings(v)
        if container and loose and len(container.contents) < CONTAINER_CAPACITY:
            return f"put {loose[0].label} into the container {container.label}"
        for oid, who in list(self.claims.items()):  # drop claims on what someone now holds or delivered
            o = v.obj(oid)
            if o is None or o.holder is not None:
                del self.claims[oid]
        free = [o for o in v.available("target") if o.id not in self.claims]
        left = v.horizon - v.tick
        if carried and (v.free_hands == 0 or not free or left <= d(v.room, BED_ROOM) + tuning.DROP_TICKS + _late_margin()):
            return "transport objects I'm holding to the bed"
        if v.free_hands:
            if self.use_containers and container is None and not loose and len(free) >= 3:
                cons = [o for o in v.available("container") if o.id not in self.claims]
                if cons:
                    best_t = min(d(v.room, o.room) for o in free)
                    c = min(cons, key=lambda o: (d(v.room, o.room), o.id))
                    if d(v.room, c.room) <= best_t + 2 * tuning.TICKS_PER_DOOR:
                        self.claims[c.id] = name
                        return _grasp(c)
            if free:
                t = min(free, key=lambda o: (d(v.room, o.room) + 0.3 * d(o.room, BED_ROOM), o.id))
                self.claims[t.id] = name
                return _grasp(t)
        if carried:
            return "transport objects I'm holding to the bed"
        return "wait"


def make_team(name: str, env: TransportEnv, seed: int = 0) -> dict[str, Agent]:
    """Agents by team name: random, greedy (one agent), greedy-nocontainers, greedy-pair, claims,
    oracle. The environment must have as many agents as the team (see :func:`team_config`)."""
    agents = env.agents
    if name == "random":
        return {a: RandomAgent(seed * 7 + i) for i, a in enumerate(agents)}
    if name in ("greedy", "greedy-pair"):  # the same tie-breaking: uncoordinated agents mirror each other
        return {a: GreedyAgent(seed) for a in agents}
    if name == "greedy-nocontainers":
        return {a: GreedyAgent(seed * 7 + i, use_containers=False) for i, a in enumerate(agents)}
    if name == "claims":
        return {a: ClaimsAgent(i, len(agents), seed * 7 + i) for i, a in enumerate(agents)}
    if name in ("oracle", "oracle-nocontainers"):
        team = OracleTeam(seed, use_containers=name == "oracle")
        return {a: team.member(a) for a in agents}
    raise ValueError(f"unknown team {name!r}; choose one of {', '.join(TEAMS)}")


#: Team name -> (number of agents, needs full information).
TEAMS: Mapping[str, tuple[int, bool]] = {
    "random": (2, False),
    "greedy": (1, False),
    "greedy-nocontainers": (1, False),
    "greedy-pair": (2, False),
    "claims": (2, False),
    "oracle": (2, True),
    "oracle-nocontainers": (2, True),
}
