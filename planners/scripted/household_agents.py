"""Scripted teams for the household world: the same ladder as in the transport world.

random < greedy single agent < two greedy agents without communication < a cooperative pair that
splits rooms and claims items by message < an oracle team with full information. Each agent maps
an observation to one action string, exactly what an LLM agent would return.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Mapping

from promptopt.planners.environments.household import HouseholdConfig, HouseholdEnv, HouseholdView, ItemView
from promptopt.planners.environments.protocol import Observation

from .agents import Agent, RandomAgent, SharedTeam

__all__ = [
    "HOUSEHOLD_TEAM_SPECS",
    "HouseholdClaims",
    "HouseholdGreedy",
    "HouseholdOracleTeam",
    "household_team_config",
    "make_household_team",
]

#: Team name -> (number of agents, needs full information).
HOUSEHOLD_TEAM_SPECS: Mapping[str, tuple[int, bool]] = {
    "random": (2, False),
    "greedy": (1, False),
    "greedy-pair": (2, False),
    "claims": (2, False),
    "oracle": (2, True),
}

_CLAIM = re.compile(r"I claim [a-z]+ \((\d+)\)", re.IGNORECASE)
_EXPLORED = re.compile(r"I explored (?:the )?([A-Za-z]+)")


def _unmet(v: HouseholdView) -> dict[str, int]:
    """Item name -> how many are still missing, for the goals not yet satisfied."""
    return {g.item: g.count - s for g, s in zip(v.goals, v.satisfied) if s < g.count}


def _place(v: HouseholdView, item: ItemView) -> str | None:
    """The next action for a held item some unmet goal needs: open its receptacle or put it there."""
    for g, s in zip(v.goals, v.satisfied):
        if g.item == item.name and s < g.count:
            r = v.obj(g.target)
            if r is None:
                return None
            return f"open {r.label}" if r.closed else f"put {item.label} {g.relation.lower()} {r.label}"
    return None


def _lying(v: HouseholdView, names: set[str]) -> list[ItemView]:
    """Known items of the wanted names lying somewhere and not already in their goal receptacle."""
    targets = {g.item: g.target for g in v.goals}
    return [o for o in v.items if o.kind == "item" and o.holder is None and o.room is not None
            and o.name in names and o.inside != targets.get(o.name)]


def _fetch(v: HouseholdView, o: ItemView) -> str:
    box = v.obj(o.inside) if o.inside else None
    return f"open {box.label}" if box is not None and box.closed else f"go grab {o.label}"


class HouseholdGreedy:
    """Scripted household agent: take the nearest known item some unmet goal needs, open what is
    closed on the way, put it in place; otherwise explore the nearest unexplored room."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def act(self, observation: Observation) -> str:
        v: HouseholdView = observation.view
        d = v.house.distance
        need = {g.item: g for g, s in zip(v.goals, v.satisfied) if s < g.count}
        for h in v.hands:
            o = v.obj(h)
            if o is not None and o.name in need:
                g = need[o.name]
                r = v.obj(g.target)
                if r is not None:
                    return f"open {r.label}" if r.closed else f"put {o.label} {g.relation.lower()} {r.label}"
        todo = [r for r in v.house.rooms if r not in v.explored]
        if None in v.hands:
            cands = [o for o in v.items if o.kind == "item" and o.holder is None and o.room is not None
                     and o.name in need and o.inside != need[o.name].target]
            if cands:
                o = min(cands, key=lambda o: (d(v.room, o.room), o.id))
                box = v.obj(o.inside) if o.inside else None
                if box is not None and box.closed:
                    return f"open {box.label}"
                return f"go grab {o.label}"
        if v.room in todo:
            return f"explore current room {v.room}"
        if todo:
            return "go to " + min(todo, key=lambda r: (d(v.room, r), self.rng.random()))
        placed = {g.target for g in v.goals}
        closed = [o for o in v.items if o.kind == "receptacle" and o.closed and o.room and o.id not in placed]
        if closed:
            return f"open {min(closed, key=lambda o: (d(v.room, o.room), o.id)).label}"
        return "wait"


class HouseholdClaims(HouseholdGreedy):
    """Cooperative scripted teammate: rooms are split by assignment, explored rooms and the goal
    items found there are reported (which teaches the partner where they are), and an item is
    claimed by message before it is fetched, so the two never chase the same one."""

    def __init__(self, index: int, team_size: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.index, self.team_size = index, team_size
        self._pending: tuple[int, str] | None = None
        self._reported: set[str] = set()

    def _claims(self, v: HouseholdView) -> dict[int, str]:
        out: dict[int, str] = {}
        for m in v.messages:
            for sid in _CLAIM.findall(m.text):
                out.setdefault(int(sid), m.sender)
        return out

    def _rooms(self, v: HouseholdView) -> list[str]:
        reported = {r for m in v.messages if m.sender != v.agent for r in _EXPLORED.findall(m.text)}
        todo = [r for r in v.house.rooms if r not in v.explored and r not in reported]
        mine = [r for i, r in enumerate(sorted(v.house.rooms)) if i % self.team_size == self.index and r in todo]
        return mine or todo

    def _choose(self, v: HouseholdView) -> tuple[str, ItemView | None]:
        """The greedy choice among what nobody else claimed; also the object to claim, if any."""
        d = v.house.distance
        claims = self._claims(v)
        for h in v.hands:
            o = v.obj(h)
            if o is not None:
                action = _place(v, o)
                if action:
                    return action, None
        if None in v.hands:
            unmet = _unmet(v)
            targets = {g.item: g.target for g in v.goals}
            wanted = set()
            for name, missing in unmet.items():
                held = sum(1 for h in v.hands if (o := v.obj(h)) is not None and o.name == name)
                theirs = sum(1 for oid, who in claims.items() if who != v.agent and (o := v.obj(oid)) is not None
                             and o.name == name and o.inside != targets[name])
                if missing - held - theirs > 0:
                    wanted.add(name)
            cands = [o for o in _lying(v, wanted) if claims.get(o.id, v.agent) == v.agent]
            if cands:
                o = min(cands, key=lambda o: (d(v.room, o.room), o.id))
                return _fetch(v, o), o
        todo = self._rooms(v)
        if v.room in todo:
            return f"explore current room {v.room}", None
        if todo:
            return "go to " + min(todo, key=lambda r: (d(v.room, r), self.rng.random())), None
        placed = {g.target for g in v.goals}
        closed = [o for o in v.items if o.kind == "receptacle" and o.closed and o.room and o.id not in placed
                  and claims.get(o.id, v.agent) == v.agent]
        if closed:
            box = min(closed, key=lambda o: (d(v.room, o.room), o.id))
            return f"open {box.label}", box
        return "wait", None

    def act(self, observation: Observation) -> str:
        v: HouseholdView = observation.view
        if self._pending is not None and self._pending[0] == v.tick:
            action, self._pending = self._pending[1], None
            return action
        self._pending = None
        report = None
        if v.room in v.explored and v.room not in self._reported:
            self._reported.add(v.room)
            names = {g.item for g in v.goals}
            found = [f"{o.label} in {o.room}" for o in v.items if o.room == v.room and o.holder is None
                     and (o.name in names or o.kind == "receptacle")]
            report = f"I explored {v.room}" + (": found " + "; ".join(found) if found else "")
        action, target = self._choose(v)
        claim = f"I claim {target.label}" if target is not None and target.id not in self._claims(v) else None
        text = "; ".join(t for t in (report, claim) if t)
        if not text:
            return action
        self._pending = (v.tick, action)
        return f"send a message: {text}"


class HouseholdOracleTeam(SharedTeam):
    """Full information (needs ``omniscient=True``) and one shared assignment: each idle agent
    takes the unassigned needed item with the shortest fetch-and-place route, opens what is closed
    on the way, and picks up a second needed item when it is no farther from the goal receptacle."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.claims: dict[int, str] = {}

    def act(self, name: str, observation: Observation) -> str:
        v: HouseholdView = observation.view
        d = v.house.distance
        unmet = _unmet(v)
        targets = {g.item: v.obj(g.target) for g in v.goals}
        for oid in list(self.claims):  # drop claims on items in place or no longer needed
            o = v.obj(oid)
            if o is None or o.name not in unmet or (o.holder is None and o.inside == targets[o.name].id):
                del self.claims[oid]
        wanted: list[ItemView] = []
        for o in _lying(v, set(unmet)):
            if o.id in self.claims:
                continue
            pending = sum(1 for c in self.claims if v.obj(c) is not None and v.obj(c).name == o.name)
            if unmet[o.name] - pending > 0:
                wanted.append(o)
        held = [o for o in (v.obj(h) for h in v.hands) if o is not None]

        def route(o: ItemView) -> int:
            return d(v.room, o.room) + d(o.room, targets[o.name].room)

        mine = [o for o in _lying(v, set(unmet)) if self.claims.get(o.id) == name]
        if None in v.hands and mine:  # finish what this agent set out to fetch (e.g. after opening its box)
            return _fetch(v, min(mine, key=lambda o: (d(v.room, o.room), o.id)))
        if held:
            first = held[0]
            goal_room = targets[first.name].room if first.name in targets else v.room
            if None in v.hands and wanted:
                extra = min(wanted, key=lambda o: (d(v.room, o.room) + d(o.room, goal_room), o.id))
                if d(v.room, extra.room) + d(extra.room, goal_room) <= d(v.room, goal_room):
                    self.claims[extra.id] = name
                    return _fetch(v, extra)
            for o in held:
                action = _place(v, o)
                if action:
                    return action
        if None in v.hands and wanted:
            o = min(wanted, key=lambda o: (route(o), o.id))
            self.claims[o.id] = name
            return _fetch(v, o)
        return "wait"


def household_team_config(team: str, config: HouseholdConfig) -> HouseholdConfig:
    """The config a named household team plays under (its size; full information for the oracle)."""
    if team not in HOUSEHOLD_TEAM_SPECS:
        raise ValueError(f"unknown household team {team!r}; choose one of {', '.join(HOUSEHOLD_TEAM_SPECS)}")
    n, omniscient = HOUSEHOLD_TEAM_SPECS[team]
    return dataclasses.replace(config, n_agents=n, omniscient=omniscient)


def make_household_team(name: str, env: HouseholdEnv, seed: int = 0) -> dict[str, Agent]:
    """Agents by team name (see :data:`HOUSEHOLD_TEAM_SPECS`); the environment must have as many agents
    as the team and, for the oracle, full information (see :func:`household_team_config`)."""
    agents = env.agents
    if name == "random":
        return {a: RandomAgent(seed * 7 + i) for i, a in enumerate(agents)}
    if name in ("greedy", "greedy-pair"):  # the same tie-breaking: uncoordinated agents mirror each other
        return {a: HouseholdGreedy(seed) for a in agents}
    if name == "claims":
        return {a: HouseholdClaims(i, len(agents), seed * 7 + i) for i, a in enumerate(agents)}
    if name == "oracle":
        team = HouseholdOracleTeam(seed)
        return {a: team.member(a) for a in agents}
    raise ValueError(f"unknown household team {name!r}; choose one of {', '.join(HOUSEHOLD_TEAM_SPECS)}")
